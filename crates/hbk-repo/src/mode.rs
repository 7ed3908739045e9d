//! Go `os.FileMode` bits, as restic stores them in nodes, and their mapping
//! to and from Unix `st_mode`.

/// Directory.
pub const MODE_DIR: u32 = 1 << 31;
/// Symbolic link.
pub const MODE_SYMLINK: u32 = 1 << 27;
/// Device (block, or character with [`MODE_CHAR_DEVICE`]).
pub const MODE_DEVICE: u32 = 1 << 26;
/// Named pipe.
pub const MODE_NAMED_PIPE: u32 = 1 << 25;
/// Socket.
pub const MODE_SOCKET: u32 = 1 << 24;
/// Set-user-id.
pub const MODE_SETUID: u32 = 1 << 23;
/// Set-group-id.
pub const MODE_SETGID: u32 = 1 << 22;
/// Character device (with [`MODE_DEVICE`]).
pub const MODE_CHAR_DEVICE: u32 = 1 << 21;
/// Sticky.
pub const MODE_STICKY: u32 = 1 << 20;
/// Irregular file.
pub const MODE_IRREGULAR: u32 = 1 << 19;

/// The Unix permission bits (0o7777) encoded in a Go mode.
pub fn unix_permissions(go_mode: u32) -> u32 {
    let mut m = go_mode & 0o777;
    if go_mode & MODE_SETUID != 0 {
        m |= 0o4000;
    }
    if go_mode & MODE_SETGID != 0 {
        m |= 0o2000;
    }
    if go_mode & MODE_STICKY != 0 {
        m |= 0o1000;
    }
    m
}

/// The Go mode for a Unix `st_mode` (type and permission bits).
pub fn from_unix(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    if st_mode & 0o4000 != 0 {
        m |= MODE_SETUID;
    }
    if st_mode & 0o2000 != 0 {
        m |= MODE_SETGID;
    }
    if st_mode & 0o1000 != 0 {
        m |= MODE_STICKY;
    }
    m | match st_mode & 0o170000 {
        0o040000 => MODE_DIR,
        0o120000 => MODE_SYMLINK,
        0o060000 => MODE_DEVICE,
        0o020000 => MODE_DEVICE | MODE_CHAR_DEVICE,
        0o010000 => MODE_NAMED_PIPE,
        0o140000 => MODE_SOCKET,
        _ => 0,
    }
}

/// The Unix symbolic form (`drwxr-xr-x`), as restic's `ls -l` shows it.
pub fn to_string(go_mode: u32) -> String {
    let t = if go_mode & MODE_DIR != 0 {
        'd'
    } else if go_mode & MODE_SYMLINK != 0 {
        'L'
    } else if go_mode & MODE_DEVICE != 0 {
        if go_mode & MODE_CHAR_DEVICE != 0 {
            'c'
        } else {
            'D'
        }
    } else if go_mode & MODE_NAMED_PIPE != 0 {
        'p'
    } else if go_mode & MODE_SOCKET != 0 {
        'S'
    } else {
        '-'
    };
    let mut s = String::with_capacity(10);
    s.push(t);
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        s.push(if go_mode & (1 << (8 - i)) != 0 {
            c
        } else {
            '-'
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_restic_values() {
        assert_eq!(from_unix(0o100644), 420);
        assert_eq!(from_unix(0o104755), 8389101);
        assert_eq!(from_unix(0o040755), 2147484141);
        assert_eq!(from_unix(0o041777), 2148532735);
        assert_eq!(from_unix(0o120777), 134218239);
        assert_eq!(from_unix(0o060640), 67109280);
        assert_eq!(from_unix(0o020600), 69206400);
        assert_eq!(from_unix(0o010644), 33554852);
        assert_eq!(unix_permissions(2148532735), 0o1777);
        assert_eq!(to_string(2147484141), "drwxr-xr-x");
    }
}
