//! `hbk plan`: validate, show, run, drill, status and install-timer for a
//! plan file; the work is in hbk-plan.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use hbk_plan::report::{RunReport, Status};
use hbk_plan::run::{run, Mode, RunOptions};
use hbk_plan::Plan;

use crate::exit;
use crate::global::GlobalOpts;

/// `plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: PlanAction,
}

/// The plan subcommands.
#[derive(Subcommand, Debug)]
pub enum PlanAction {
    /// Check the plan file and say what is wrong.
    Validate(PlanFile),
    /// Print the ordered steps a run would take.
    Show(PlanFile),
    /// Run the plan (or, with --dry-run, check everything and change nothing).
    Run(RunArgs),
    /// Run only the restore drills.
    Drill(RunArgs),
    /// Print the last run's status, RPO and RTO; exits 1 when a step
    /// failed or a threshold (max_rpo, max_rto, drills, scrub) is crossed.
    Status(PlanFile),
    /// Write (or print) systemd service and timer units.
    InstallTimer(TimerArgs),
    /// Serve the read-only status page: dashboard, history plots,
    /// snapshot browser, /metrics, /healthz.
    #[cfg(feature = "web")]
    Serve(ServeArgs),
}

/// `plan serve`.
#[cfg(feature = "web")]
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Address and port (default: the plan's serve.listen, 127.0.0.1:9898).
    #[arg(long)]
    pub listen: Option<String>,
}

/// A plan file argument.
#[derive(Args, Debug)]
pub struct PlanFile {
    /// The plan file (TOML).
    pub plan: PathBuf,
}

/// `plan run` and `plan drill`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plan file (TOML).
    pub plan: PathBuf,
    /// Check everything, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The run's time (RFC 3339), for tests (env: HBK_PLAN_NOW).
    #[arg(long, hide = true, env = "HBK_PLAN_NOW")]
    pub now: Option<String>,
}

/// `plan install-timer`.
#[derive(Args, Debug)]
pub struct TimerArgs {
    /// The plan file (TOML); none with `--template`.
    pub plan: Option<PathBuf>,
    /// Write the template units of packages instead (`hbk-plan@NAME.timer`
    /// runs `/etc/hbk/NAME.toml`).
    #[arg(long)]
    pub template: bool,
    /// With `--template`: the hbk binary the units run (default: this one).
    #[arg(long, requires = "template")]
    pub exe: Option<PathBuf>,
    /// Print the units instead of writing them.
    #[arg(long)]
    pub print: bool,
    /// Where to write the units.
    #[arg(long, default_value = "/etc/systemd/system")]
    pub dir: PathBuf,
}

fn load(path: &Path) -> Result<Plan> {
    Ok(Plan::load(path)?)
}

/// Runs a plan subcommand; returns the exit code.
pub fn run_cmd(g: &GlobalOpts, a: PlanArgs) -> Result<i32> {
    match a.action {
        PlanAction::Validate(f) => {
            let plan = load(&f.plan)?;
            if !g.quiet {
                println!("plan {} is valid", plan.name);
            }
            Ok(exit::OK)
        }
        PlanAction::Show(f) => {
            let plan = load(&f.plan)?;
            for (i, s) in hbk_plan::show::steps(&plan).iter().enumerate() {
                println!("{:>3}. {s}", i + 1);
            }
            Ok(exit::OK)
        }
        PlanAction::Run(r) => execute(g, r, Mode::Run),
        PlanAction::Drill(r) => execute(g, r, Mode::Drill),
        PlanAction::Status(f) => {
            let plan = load(&f.plan)?;
            let Some(report) = RunReport::read(&plan.json_path())? else {
                bail!(
                    "plan {} has not run yet ({} missing)",
                    plan.name,
                    plan.json_path().display()
                );
            };
            print_report(g, &report)?;
            Ok(if report.green() {
                exit::OK
            } else {
                exit::ERROR
            })
        }
        #[cfg(feature = "web")]
        PlanAction::Serve(a) => {
            let plan = load(&a.plan)?;
            let auth = hbk_web::auth_of(&plan)?;
            let listen = a
                .listen
                .clone()
                .unwrap_or_else(|| plan.serve.listen.clone());
            let (listener, addr) = hbk_web::bind(&listen, &auth)?;
            if !g.quiet {
                eprintln!("serving plan {} at http://{addr}/", plan.name);
            }
            hbk_web::serve(plan, auth, listener);
            Ok(exit::OK)
        }
        PlanAction::InstallTimer(t) => {
            let exe = std::env::current_exe().context("finding the hbk binary")?;
            let (units, enable) = match &t.plan {
                Some(path) if !t.template => {
                    let plan = load(path)?;
                    let file = std::fs::canonicalize(path)
                        .with_context(|| format!("resolving {}", path.display()))?;
                    let enable = format!(
                        "systemctl daemon-reload && systemctl enable --now hbk-plan-{0}.timer hbk-plan-{0}-drill.timer",
                        plan.name
                    );
                    (hbk_plan::timer::units(&plan, &exe, &file), enable)
                }
                None if t.template => {
                    let exe = t.exe.clone().unwrap_or(exe);
                    let enable = "systemctl daemon-reload && systemctl enable --now hbk-plan@NAME.timer hbk-plan-drill@NAME.timer (plan file /etc/hbk/NAME.toml)".to_string();
                    (hbk_plan::timer::template_units(&exe), enable)
                }
                _ => bail!("give a plan file, or --template without one"),
            };
            for u in units {
                if t.print {
                    println!("# {}\n{}", u.name, u.text);
                } else {
                    let p = t.dir.join(&u.name);
                    std::fs::write(&p, &u.text)
                        .with_context(|| format!("writing {}", p.display()))?;
                    println!("wrote {}", p.display());
                }
            }
            if !t.print {
                println!("enable with: {enable}");
            }
            Ok(exit::OK)
        }
    }
}

fn execute(g: &GlobalOpts, r: RunArgs, mode: Mode) -> Result<i32> {
    let plan = load(&r.plan)?;
    let now = match &r.now {
        Some(s) if !s.is_empty() => DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--now / HBK_PLAN_NOW {s:?} is not RFC 3339"))?
            .with_timezone(&Utc),
        _ => Utc::now(),
    };
    let opts = RunOptions {
        now,
        dry_run: r.dry_run,
        mode,
    };
    let report = match run(&plan, &opts) {
        Ok(rep) => rep,
        Err(e @ hbk_plan::Error::PlanLocked { .. }) => {
            eprintln!("Fatal: {e}");
            return Ok(exit::LOCK_FAILED);
        }
        Err(e) => return Err(e.into()),
    };
    print_report(g, &report)?;
    Ok(if report.ok { exit::OK } else { exit::ERROR })
}

fn print_report(g: &GlobalOpts, report: &RunReport) -> Result<()> {
    if g.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else if !g.quiet {
        print!("{}", report.summary());
    } else {
        for s in report.steps.iter().filter(|s| s.status == Status::Failed) {
            eprintln!("{}: {}", s.name, s.message);
        }
    }
    Ok(())
}
