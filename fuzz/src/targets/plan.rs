//! The plan file (TOML, validated): parsed; a plan that parses and
//! validates is written back as TOML, which must parse and validate
//! again and write the same text.

use std::path::Path;

use hbk_plan::config::Plan;

/// Feeds `data` to the `plan` target: see the module documentation.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("plan.toml");
    let Ok(plan) = Plan::parse(text, path) else {
        return;
    };
    let Ok(written) = toml::to_string(&plan) else {
        return;
    };
    let again = match Plan::parse(&written, path) {
        Ok(again) => again,
        Err(e) => panic!("plan: parsed, written, then rejected: {e}\n{written}"),
    };
    let rewritten = toml::to_string(&again).expect("a plan written once can be written again");
    assert_eq!(
        rewritten, written,
        "plan: written and parsed again, it changed"
    );
}
