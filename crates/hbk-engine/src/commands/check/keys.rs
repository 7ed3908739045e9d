//! Key files: each must parse and still hash to its name. A key whose file
//! changed around it (reformatted, renamed) still opens the repository, so
//! opening only warns; `check` names it as damage to repair.

use hbk_repo::{FileType, Id, Repository};

use super::load::describe;
use super::{CheckFinding, CheckReport, CheckedObject, FindingKind};
use crate::Result;

/// Checks every key file, adding a finding for each that does not parse
/// or whose content no longer hashes to its name.
pub(super) fn check_keys(repo: &Repository, report: &mut CheckReport) -> Result<()> {
    let mut ids: Vec<Id> = repo
        .list(FileType::Key)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    for id in ids {
        let finding = match repo.load_key_file(&id) {
            Ok(key) if key.name_matches => continue,
            Ok(_) => CheckFinding::new(
                CheckedObject::Key(id),
                FindingKind::HashMismatch,
                format!("key {id}: content does not match its name"),
            ),
            Err(e) => CheckFinding::new(
                CheckedObject::Key(id),
                FindingKind::Unreadable,
                format!("key {id}: unable to load: {}", describe(&e)),
            ),
        };
        report.errors.push(finding);
    }
    Ok(())
}
