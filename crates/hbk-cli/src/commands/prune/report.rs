//! How `prune` prints its decision: restic's statistics block and JSON.

use crate::output::format_bytes;
use hbk_engine::commands::prune::{Amount, PruneReport};
use serde_json::json;

pub(super) fn amount(a: Amount) -> String {
    format!("{:>10} blobs / {}", a.blobs, format_bytes(a.bytes))
}

pub(super) fn print_report(r: &PruneReport) {
    let p = &r.plan;
    println!("snapshots: {} (their data is kept)", r.snapshots);
    println!();
    println!("used:         {}", amount(p.used));
    println!("unused:       {}", amount(p.unused));
    println!();
    println!("to repack:    {}", amount(p.to_repack));
    println!("this removes: {}", amount(p.repack_removes));
    println!("to delete:    {}", amount(p.to_delete));
    let total = Amount {
        blobs: p.repack_removes.blobs + p.to_delete.blobs,
        bytes: p.repack_removes.bytes + p.to_delete.bytes,
    };
    println!("total prune:  {}", amount(total));
    println!("remaining:    {}", amount(p.remaining));
    let share = if p.remaining.bytes == 0 {
        0.0
    } else {
        p.unused_after as f64 * 100.0 / p.remaining.bytes as f64
    };
    println!(
        "unused size after prune: {} ({share:.2}% of remaining size)",
        format_bytes(p.unused_after)
    );
    if !p.unreferenced.is_empty() {
        println!(
            "unreferenced packs: {} / {}",
            p.unreferenced.len(),
            format_bytes(p.unreferenced.iter().map(|u| u.1).sum())
        );
    }
    println!();
    println!(
        "packs: {} kept, {} to repack, {} to delete",
        p.keep.len(),
        p.repack.len(),
        p.remove.len() + p.unreferenced.len()
    );
    if r.dry_run {
        println!("dry run: nothing was changed");
    } else if p.is_noop() {
        println!("nothing to do");
    } else {
        println!(
            "wrote {} new packs and {} index files, deleted {} old index files and {} packs ({} freed)",
            r.packs_written,
            r.index_written,
            r.index_removed,
            r.packs_removed,
            format_bytes(p.bytes_freed())
        );
        println!("done");
    }
}

pub(super) fn amount_json(a: Amount) -> serde_json::Value {
    json!({"blobs": a.blobs, "bytes": a.bytes})
}

pub(super) fn report_json(r: &PruneReport) -> serde_json::Value {
    let p = &r.plan;
    // restic 0.19's objects, then hbk's own fields.
    let unreferenced: u64 = p.unreferenced.iter().map(|u| u.1).sum();
    let per = |f: fn(&hbk_engine::commands::prune::Amount) -> u64| {
        let restic_unused = f(&p.unused) - f(&p.duplicates);
        json!({
            "used": f(&p.used),
            "duplicate": f(&p.duplicates),
            "unused": restic_unused,
            "total": f(&p.used) + f(&p.unused),
            "repack": f(&p.to_repack),
            "repack_remove": f(&p.repack_removes),
            "remove": f(&p.to_delete),
            "remove_total": f(&p.repack_removes) + f(&p.to_delete),
            "remaining": f(&p.remaining),
        })
    };
    let mut bytes = per(|a| a.bytes);
    bytes["unreferenced"] = json!(unreferenced);
    bytes["remaining_unused"] = json!(p.unused_after);
    bytes["uncompressed"] = json!(p.uncompressed);
    let (used, partly, unused) = p.pack_use;
    json!({
        "message_type": "summary",
        "blobs": per(|a| a.blobs),
        "bytes": bytes,
        "packfiles": {
            "used": used,
            "partly_used": partly,
            "unused": unused,
            "unreferenced": p.unreferenced.len(),
            "total": used + partly + unused + p.unreferenced.len(),
            "keep": p.keep.len(),
            "repack": p.repack.len(),
            "remove": p.remove.len(),
            "remove_total": p.repack.len() + p.remove.len() + p.unreferenced.len(),
        },
        "dry_run": r.dry_run,
        "snapshots": r.snapshots,
        "used": amount_json(p.used),
        "unused": amount_json(p.unused),
        "to_repack": amount_json(p.to_repack),
        "repack_removes": amount_json(p.repack_removes),
        "to_delete": amount_json(p.to_delete),
        "remaining": amount_json(p.remaining),
        "unused_after_bytes": p.unused_after,
        "packs_kept": p.keep.len(),
        "packs_to_repack": p.repack.len(),
        "packs_to_delete": p.remove.len(),
        "unreferenced_packs": p.unreferenced.len(),
        "packs_written": r.packs_written,
        "index_files_written": r.index_written,
        "index_files_deleted": r.index_removed,
        "packs_deleted": r.packs_removed,
        "bytes_freed": if r.dry_run { 0 } else { p.bytes_freed() },
    })
}
