//! `chowk train`: fit the spam classifier's model from labelled corpora (TSV or JSON lines) and
//! from moderators' decisions kept in the store (removed → spam, approved → ham), measure it on a held-out set,
//! print the confusion matrices of the new and the current model, and write the new one only
//! if it is not worse (or with `--force`). "Worse" is decided per class with McNemar's paired
//! test on the held-out messages the two models judge differently (one-sided, 5%): more ham
//! flagged at `--threshold` than chance explains, or more spam missed both at `--threshold`
//! and when each model flags as much held-out ham as the current one does there
//! ([`chowk_sdk::classifier::Comparison`] says why neither spam comparison alone). A held-out
//! set of a few hundred messages cannot tell one message apart from noise; a real regression
//! it can. The file is replaced atomically, so a running host watching it reloads the chain
//! with the complete new model.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chowk_host::ids::RoomId;
use chowk_sdk::classifier::{
    compare, evaluate, parse_tsv, train, Algorithm, Confusion, Example, Half, Model, ModelError,
    TrainOptions,
};

/// Significance level of the regression test.
const ALPHA: f64 = 0.05;

/// Arguments of `chowk train`.
#[derive(clap::Args)]
pub struct Args {
    /// A labelled corpus to train on, TSV (`label<TAB>text` or `label<TAB>family<TAB>lang<TAB>text`)
    /// or JSON lines (`.jsonl`: `{"text", "label"}`): `PATH`, `PATH:even` or `PATH:odd` (one half
    /// of a fixed split: alternate lines), optionally `*N` to count each example N times.
    /// Repeatable.
    #[arg(long = "corpus")]
    corpora: Vec<String>,
    /// A labelled TSV corpus to measure on (same syntax, `*N` ignored). Without one, every
    /// fifth training example is held out.
    #[arg(long = "heldout")]
    heldout: Vec<String>,
    /// Also train on the moderators' decisions in the store of `--config`.
    #[arg(long)]
    from_store: bool,
    /// How many times each moderator decision counts (they are in-domain and few).
    #[arg(long, default_value_t = 2)]
    store_weight: usize,
    /// Only these rooms' decisions (comma-separated; default every room): a community model.
    #[arg(long, value_delimiter = ',')]
    rooms: Vec<String>,
    /// The config whose `[redis]` holds the decisions.
    #[arg(long, env = "CHOWK_CONFIG")]
    config: Option<PathBuf>,
    /// Where to write the model.
    #[arg(long)]
    out: PathBuf,
    /// The model to compare with (default: `--out`, if it exists).
    #[arg(long)]
    current: Option<PathBuf>,
    /// Write the new model even if it is worse than the current one.
    #[arg(long)]
    force: bool,
    /// `logistic` (default) or `bayes`.
    #[arg(long, default_value = "logistic")]
    algorithm: String,
    /// Table size: bits of the feature hash (2^bits weights).
    #[arg(long, default_value_t = TrainOptions::default().bits)]
    bits: u32,
    /// Passes over the data (logistic).
    #[arg(long, default_value_t = TrainOptions::default().epochs)]
    epochs: u32,
    /// AdaGrad learning rate (logistic).
    #[arg(long, default_value_t = TrainOptions::default().learning_rate)]
    learning_rate: f32,
    /// L2 penalty per update (logistic).
    #[arg(long, default_value_t = TrainOptions::default().l2)]
    l2: f32,
    /// Probability at which a message counts as flagged in the confusion matrices and the
    /// comparison (the shipped chain's classifier alone flags at about 0.84).
    #[arg(long, default_value_t = 0.95)]
    threshold: f32,
}

/// Run `chowk train`.
pub fn run(args: Args) -> Result<ExitCode> {
    let algorithm = match args.algorithm.as_str() {
        "logistic" => Algorithm::Logistic,
        "bayes" => Algorithm::Bayes,
        other => bail!("--algorithm: expected logistic or bayes, got {other:?}"),
    };
    let mut examples = Vec::new();
    for spec in &args.corpora {
        let (loaded, times) = load(spec)?;
        eprintln!("{spec}: {}", counts(&loaded));
        for _ in 0..times {
            examples.extend(loaded.iter().cloned());
        }
    }
    if args.from_store {
        let labels = store_labels(args.config.as_deref(), &args.rooms)?;
        eprintln!("moderators' decisions: {}", counts(&labels));
        for _ in 0..args.store_weight {
            examples.extend(labels.iter().cloned());
        }
    }
    let mut heldout = Vec::new();
    for spec in &args.heldout {
        heldout.extend(load(spec)?.0);
    }
    if heldout.is_empty() {
        let all = std::mem::take(&mut examples);
        for (i, e) in all.into_iter().enumerate() {
            if i % 5 == 4 {
                heldout.push(e);
            } else {
                examples.push(e);
            }
        }
    }
    if examples.iter().all(|e| e.spam) || examples.iter().all(|e| !e.spam) {
        bail!(
            "need both spam and ham to train on; got {}",
            counts(&examples)
        );
    }
    let options = TrainOptions {
        algorithm,
        bits: args.bits,
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        l2: args.l2,
        ..TrainOptions::default()
    };
    let model = train(&examples, &options).map_err(|e| anyhow::anyhow!("{e}"))?;
    let new = evaluate(&model, &heldout, args.threshold);
    let bytes = model.to_bytes();
    println!(
        "trained on {}; held out {}",
        counts(&examples),
        counts(&heldout)
    );
    println!(
        "new model: {} non-zero weights, {} bytes",
        model.non_zero(),
        bytes.len()
    );
    print_confusion("new", &new);

    let current_path = args.current.clone().unwrap_or_else(|| args.out.clone());
    let current = match std::fs::read(&current_path) {
        Ok(b) => match Model::from_bytes(&b) {
            Ok(model) => Some(model),
            // A model of features this version no longer computes cannot be scored, so it
            // cannot be compared either: the new model replaces it.
            Err(e @ ModelError::OtherFeatures { .. }) => {
                println!("current ({}): {e}; not compared", current_path.display());
                None
            }
            Err(e) => anyhow::bail!("{}: {e}", current_path.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && args.current.is_none() => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", current_path.display())),
    };
    if let Some(current) = &current {
        let old = evaluate(current, &heldout, args.threshold);
        print_confusion(&format!("current ({})", current_path.display()), &old);
        let c = compare(&model, current, &heldout, args.threshold);
        for r in [&c.ham, &c.spam_at_threshold, &c.spam] {
            println!("{r}");
        }
        if c.spam_at_threshold.is_worse(ALPHA) && !c.spam.is_worse(ALPHA) {
            println!(
                "note: the new model is more cautious at p = {}: as good at telling spam from \
                 ham, but it flags less spam there; recalibrate the classifier's `per_logit` \
                 (`chowk eval`) if that matters",
                args.threshold
            );
        }
        if c.is_worse(ALPHA) && !args.force {
            println!(
                "refused: the new model is worse on the held-out set; {} is unchanged (--force \
                 writes it anyway)",
                args.out.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    write_atomically(&args.out, &bytes)?;
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn load(spec: &str) -> Result<(Vec<Example>, usize)> {
    let (spec, times) = match spec.rsplit_once('*') {
        Some((path, n)) => (
            path,
            n.parse()
                .with_context(|| format!("{spec}: `*N` needs a number"))?,
        ),
        None => (spec, 1),
    };
    let (path, half) = Half::split_spec(spec);
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    if path.ends_with(".jsonl") || path.ends_with(".json") {
        return Ok((
            parse_jsonl(&text, half).with_context(|| path.to_owned())?,
            times,
        ));
    }
    let examples = parse_tsv(&text, half)
        .with_context(|| path.to_owned())?
        .into_iter()
        .map(|l| l.example)
        .collect();
    Ok((examples, times))
}

/// JSON lines as `chowk eval` reads them: `{"text": ..., "label": "spam" | "ham"}` (other
/// fields ignored; lines without a label skipped).
fn parse_jsonl(text: &str, half: Half) -> Result<Vec<Example>> {
    #[derive(serde::Deserialize)]
    struct Line {
        text: String,
        label: Option<String>,
    }
    let mut out = Vec::new();
    let mut n = 0usize;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(line).with_context(|| format!("line {}", i + 1))?;
        let spam = match line.label.as_deref() {
            Some("spam") => true,
            Some("ham") => false,
            None => continue,
            Some(other) => bail!("line {}: label must be spam or ham, got {other:?}", i + 1),
        };
        let take = half.takes(n);
        n += 1;
        if take {
            out.push(Example {
                text: line.text,
                spam,
            });
        }
    }
    Ok(out)
}

fn store_labels(config: Option<&Path>, rooms: &[String]) -> Result<Vec<Example>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = super::rooms::open(config).await?;
        let ids: Vec<RoomId> = if rooms.is_empty() {
            store.rooms().await?.into_iter().map(|r| r.id).collect()
        } else {
            rooms
                .iter()
                .map(|r| RoomId::new(r.as_str()).map_err(|e| anyhow::anyhow!("--rooms: {e}")))
                .collect::<Result<_>>()?
        };
        let mut out = Vec::new();
        for room in &ids {
            out.extend(store.labels(room).await?.into_iter().map(|l| Example {
                text: l.text,
                spam: l.spam,
            }));
        }
        Ok(out)
    })
}

fn counts(examples: &[Example]) -> String {
    let spam = examples.iter().filter(|e| e.spam).count();
    format!("{} spam + {} ham", spam, examples.len() - spam)
}

fn print_confusion(name: &str, c: &Confusion) {
    println!("{name}:");
    println!("                 flagged   passed");
    println!("  spam        {:>10} {:>8}", c.true_spam, c.missed_spam);
    println!("  ham         {:>10} {:>8}", c.flagged_ham, c.true_ham);
    println!(
        "  spam recall {:.1}%, ham flagged {:.2}%",
        c.recall() * 100.0,
        c.ham_flagged() * 100.0
    );
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
