//! `zerowin run FILE|DIR|NAME...`: runs scenarios and judges each against its
//! `[expect]`; exit 1 when one did not hold.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::RunArgs;
use crate::report::text;
use crate::session::{self, Detail, Session};

pub fn run(a: RunArgs) -> Result<ExitCode> {
    let loaded = session::load(&a.paths, &super::exe()?, &a.overrides.assigns())?;
    let scenarios = a.overrides.apply(&loaded.scenarios)?;
    let s = Session::open(a.overrides.session(a.quiet, true)?, &loaded.inputs())?;
    for sc in &scenarios {
        sc.check_isolation(s.opts.isolation)?;
    }
    let detail = if a.quiet {
        Detail::Verdicts
    } else {
        Detail::Full
    };
    let results = s.run(&scenarios, detail)?;
    let failed = results.iter().filter(|r| !r.passed()).count();
    s.out.print(&format!(
        "\nSummary\n{}{} passed, {} failed\n",
        text::summary_table(&results, s.layout),
        results.len() - failed,
        failed
    ))?;
    s.finish(&results)?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
