//! `dagship doctor`'s text: one line per check (✓ passed, ✗ failed, - skipped), the fix under each failure, and
//! a count. The JSON is the report itself (`DoctorReport`: one entry per check).
use crate::doctor::{DoctorReport, Status};

pub fn render_doctor_text(report: &DoctorReport) -> String {
    let mut text = String::new();
    for check in &report.checks {
        let mark = match check.status {
            Status::Pass => "✓",
            Status::Fail => "✗",
            Status::Skip => "-",
        };
        let scope = check.environment.as_ref().map(|name| format!(" ({name})")).unwrap_or_default();
        text.push_str(&format!("{mark} {}{scope}: {}\n", check.check, check.detail));
        if let Some(fix) = &check.fix {
            text.push_str(&format!("    fix: {fix}\n"));
        }
    }
    let count = |status| report.checks.iter().filter(|check| check.status == status).count();
    text.push_str(&format!(
        "{} passed, {} failed, {} skipped\n",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip)
    ));
    text
}
