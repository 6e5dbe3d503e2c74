//! `faultline test --help` lists every built-in workload and nemesis, taken from the
//! registries the binary embeds, so the help cannot drift from what `--workload` and
//! `--nemesis` accept.

mod common;

use common::{code, faultline, text};
use faultline::nemesis::NemesisSpec;
use faultline::workload::WorkloadSpec;

/// The comma-separated list in parentheses right after `lead` in `help` (whitespace folded).
fn listed(help: &str, lead: &str) -> Vec<String> {
    let folded = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let start = folded
        .find(lead)
        .unwrap_or_else(|| panic!("no {lead:?} in:\n{help}"))
        + lead.len();
    let rest = &folded[start..];
    let end = rest
        .find(')')
        .unwrap_or_else(|| panic!("unclosed list in:\n{help}"));
    rest[..end].split(", ").map(str::to_owned).collect()
}

#[test]
fn test_help_lists_every_builtin_workload_and_nemesis() {
    for flag in ["--help", "-h"] {
        let out = faultline()
            .args(["test", flag])
            .output()
            .expect("faultline runs");
        assert_eq!(code(&out), 0, "{}", text(&out));
        let help = String::from_utf8_lossy(&out.stdout);
        let workloads = listed(&help, "The workload: a built-in name (");
        assert_eq!(workloads, WorkloadSpec::builtin_names(), "{flag}");
        let schedules = listed(&help, "The fault schedule: a built-in name (");
        assert_eq!(schedules, NemesisSpec::builtin_names(), "{flag}");
        for name in ["list-append", "isolated-restarts", "mixed", "bank"] {
            assert!(help.contains(name), "{flag}: {name} missing from:\n{help}");
        }
    }
}
