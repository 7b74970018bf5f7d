//! `pareto generate`: the sample lake alone.

use clap::Args;
use pareto::exit;
use pareto::sample::{self, Options};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Folder to write the lake into (one folder per table).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub size: SizeArgs,
}

/// Flags shared by `generate` and `demo`.
#[derive(Debug, Clone, Args)]
pub struct SizeArgs {
    /// Number of customers (orders ≈ 20×, tickets ≈ 3×).
    #[arg(long, default_value_t = 2000)]
    pub customers: u64,
    /// Random seed: the same seed and --until give the same lake.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Data runs up to this day, exclusive (default: today, UTC).
    #[arg(long)]
    pub until: Option<chrono::NaiveDate>,
    /// Years of history.
    #[arg(long, default_value_t = 3)]
    pub years: u32,
}

impl SizeArgs {
    pub fn options(&self, out: PathBuf) -> Options {
        Options {
            out,
            customers: self.customers,
            seed: self.seed,
            until: self.until.unwrap_or_else(|| chrono::Utc::now().date_naive()),
            years: self.years,
        }
    }
}

/// Generate with a progress bar on a terminal.
pub fn generate(o: &Options) -> anyhow::Result<sample::Summary> {
    let months = (o.years * 12 + 1) as u64;
    let bar = indicatif::ProgressBar::new(months);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} generating {msg} [{bar:30}] {pos}/{len} months")
            .expect("template")
            .progress_chars("=> "),
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let summary = sample::generate(o, |m| {
        bar.set_message(m.format("%Y-%m").to_string());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    Ok(summary)
}

pub async fn run(a: GenerateArgs) -> anyhow::Result<u8> {
    let o = a.size.options(a.out.clone());
    let s = tokio::task::spawn_blocking(move || generate(&o)).await??;
    println!(
        "wrote {}: {} customers, {} orders, {} subscription months, {} tickets, {} CSAT ratings, {} NPS responses, {} account owners",
        a.out.display(),
        s.customers,
        s.orders,
        s.subscriptions,
        s.tickets,
        s.csat,
        s.nps,
        s.owners
    );
    Ok(exit::OK)
}
