//! FAQ retrieval throughput and latency on the evaluation set (tests/data/faq-eval), one thread:
//! BM25 alone, and hybrid (BM25 and multilingual-e5) separately, since embedding the question
//! dominates the latter. Each prints its latency percentiles over single questions, then
//! criterion measures questions per second.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "benchmark code: a failed unwrap, expect or index stops the benchmark"
)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use cuebox_catalog::{FaqIndex, TextEmbedder, parse_catalog};

/// About how many questions, spread over the set, the hybrid benchmark asks: embedding makes
/// each one take milliseconds.
const HYBRID_QUESTIONS: usize = 60;

struct Question {
    in_view: Option<String>,
    text: String,
}

fn data_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/faq-eval").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn questions() -> Vec<Question> {
    data_file("questions.tsv")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Question { in_view: (fields[1] != "-").then(|| fields[1].to_owned()), text: fields[4].to_owned() }
        })
        .collect()
}

fn index(semantic: Option<&TextEmbedder>) -> FaqIndex {
    let catalog = parse_catalog(&data_file("catalog.yaml")).unwrap_or_else(|p| panic!("{p:#?}")).catalog;
    FaqIndex::build(&catalog.faq, &catalog.products, &catalog.default_locale, semantic).unwrap()
}

fn text_embedder() -> TextEmbedder {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    TextEmbedder::load(&models).unwrap_or_else(|e| panic!("{e} (run `cargo xtask setup`)"))
}

/// Times every question `rounds` times and prints the percentiles and the rate they imply.
fn print_latency(label: &str, index: &FaqIndex, questions: &[Question], rounds: usize) {
    let mut times: Vec<Duration> = Vec::with_capacity(questions.len() * rounds);
    for _ in 0..rounds {
        for question in questions {
            let started = Instant::now();
            black_box(index.ask(&question.text, question.in_view.as_deref(), 3).unwrap());
            times.push(started.elapsed());
        }
    }
    times.sort();
    let percentile = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    let total: f64 = times.iter().map(Duration::as_secs_f64).sum();
    eprintln!(
        "{label}: {} questions, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, {:.0} questions/s on one thread",
        times.len(),
        percentile(0.50),
        percentile(0.99),
        percentile(1.0),
        times.len() as f64 / total
    );
}

/// The process's resident memory, where Linux tells it.
fn resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn bench(criterion: &mut Criterion, label: &str, index: &FaqIndex, questions: &[Question]) {
    let mut group = criterion.benchmark_group("faq");
    group.throughput(Throughput::Elements(questions.len() as u64));
    group.bench_function(label, |b| {
        b.iter(|| {
            for question in questions {
                black_box(index.ask(&question.text, question.in_view.as_deref(), 3).unwrap());
            }
        })
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let questions = questions();

    let before = resident_mib();
    let started = Instant::now();
    let lexical = index(None);
    eprintln!("faq/bm25: index built in {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
    if let (Some(before), Some(after)) = (before, resident_mib()) {
        eprintln!("faq/bm25: the index (with jieba's dictionary) grew the process by {:.0} MiB", after - before);
    }
    print_latency("faq/bm25", &lexical, &questions, 20);
    bench(&mut criterion, "bm25", &lexical, &questions);

    let embedder = text_embedder();
    let started = Instant::now();
    let hybrid = index(Some(&embedder));
    eprintln!("faq/hybrid: index built in {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
    let every = (questions.len() / HYBRID_QUESTIONS).max(1);
    let sample: Vec<Question> = questions.into_iter().step_by(every).collect();
    print_latency("faq/hybrid", &hybrid, &sample, 1);
    let mut criterion = criterion.sample_size(10);
    bench(&mut criterion, "hybrid", &hybrid, &sample);

    criterion.final_summary();
}
