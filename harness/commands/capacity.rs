//! `zerowin capacity FILE...`: the capacity C of each scenario's client, measured
//! while data always waits for it (`calibrate::capacity_run`), in one table.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::calibrate::CapacityRun;
use crate::cli::CapacityArgs;
use crate::report::output::clean;
use crate::report::text;
use crate::session::{self, Session};

pub fn capacity(a: &CapacityArgs) -> Result<ExitCode> {
    if a.warmup >= a.duration {
        bail!("--warmup must be shorter than --duration");
    }
    let loaded = session::load(&a.files, &super::exe()?, &[])?;
    let o = session::Options {
        outputs: &[],
        observe: crate::observe::ObserveOptions {
            isolation: a.isolation,
            ..Default::default()
        },
        pcap: None,
        plot: None,
        quiet: false,
        checked: false,
    };
    let s = Session::open(o, &loaded.inputs())?;
    for c in &loaded.scenarios {
        c.check_isolation(s.opts.isolation)?;
    }
    let run = CapacityRun {
        duration: a.duration,
        warmup: a.warmup,
        trials: a.trials,
    };
    let mut t = text::new_table(
        vec![
            "scenario",
            "client",
            "against",
            "trials",
            "C",
            "min-max",
            "measured as",
        ],
        s.layout,
    );
    // A sweep's cells share one client unless the sweep varies it; each is measured.
    for sc in &loaded.scenarios {
        let c = s.capacity(sc, run)?;
        let against = match sc.sender.framed() {
            true => "patient, unlimited, 64 MiB queue",
            false => "original, tight loop, 1 MiB sndbuf",
        };
        t.add_row(vec![
            clean(&format!("{}{}", sc.name, sc.cell_label())),
            clean(&sc.strategy.describe(&sc.client)),
            against.to_string(),
            c.trials.to_string(),
            c.text(),
            format!(
                "{}-{}",
                crate::analysis::capacity::thousands(c.min_per_s),
                crate::analysis::capacity::thousands(c.max_per_s)
            ),
            c.method.describe().to_string(),
        ]);
    }
    s.out.print(&format!(
        "Capacity C of each client: messages a second while data always waits for it ({} run(s) of {:?} each, the first {:?} left out for framed clients; docs/speed-limit.md)\n{t}\n",
        a.trials, a.duration, a.warmup
    ))?;
    Ok(ExitCode::SUCCESS)
}
