//! Figures collected by the scenarios: values per subject (baseline, taskmaster,
//! supervisord), min/median/max, the target and a pass/miss verdict, the final table and the
//! JSON dump. Benchmarks print verdicts; they never fail.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

/// Which way a figure is good.
#[derive(Clone, Copy, PartialEq)]
pub enum Goal {
    AtMost(f64),
    AtLeast(f64),
    Exactly(f64),
    /// Information only: no verdict.
    None,
}

impl Goal {
    fn text(self, unit: &str) -> String {
        match self {
            Goal::AtMost(v) => format!("≤ {} {unit}", num(v)),
            Goal::AtLeast(v) => format!("≥ {} {unit}", num(v)),
            Goal::Exactly(v) => format!("= {} {unit}", num(v)),
            Goal::None => "-".into(),
        }
    }

    fn met(self, v: f64) -> Option<bool> {
        match self {
            Goal::AtMost(t) => Some(v <= t),
            Goal::AtLeast(t) => Some(v >= t),
            Goal::Exactly(t) => Some((v - t).abs() < 1e-9),
            Goal::None => None,
        }
    }

    fn higher_is_better(self) -> bool {
        matches!(self, Goal::AtLeast(_))
    }
}

pub struct Metric {
    pub scenario: &'static str,
    pub name: String,
    pub unit: &'static str,
    pub goal: Goal,
    /// The supervisord figure on its 2-core VM, for comparison.
    pub reference: Option<&'static str>,
    /// Whether "how many times better" means something for this figure.
    pub ratio: bool,
    /// Bigger is better (a throughput), whatever the goal says.
    pub higher_is_better: bool,
    pub values: BTreeMap<String, Vec<f64>>,
}

pub struct Summary {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub n: usize,
}

pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Summary {
        min: v[0],
        median,
        max: v[n - 1],
        n,
    })
}

/// A number with a sensible count of digits for a table.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

#[derive(Default)]
pub struct Report {
    pub metrics: Vec<Metric>,
    pub notes: Vec<String>,
}

impl Report {
    /// Declares a figure (idempotent), so it shows even when a run fails.
    pub fn declare(
        &mut self,
        scenario: &'static str,
        name: &str,
        unit: &'static str,
        goal: Goal,
        reference: Option<&'static str>,
    ) {
        if !self
            .metrics
            .iter()
            .any(|m| m.scenario == scenario && m.name == name)
        {
            self.metrics.push(Metric {
                scenario,
                name: name.to_string(),
                unit,
                goal,
                reference,
                ratio: true,
                higher_is_better: goal.higher_is_better(),
                values: BTreeMap::new(),
            });
        }
    }

    /// Declares an information-only figure with no target and no advantage column
    /// (a time in a schedule, a thread count).
    pub fn declare_info(&mut self, scenario: &'static str, name: &str, unit: &'static str) {
        self.declare(scenario, name, unit, Goal::None, None);
        if let Some(m) = self.metrics.last_mut() {
            m.ratio = false;
        }
    }

    /// Marks an information-only figure as one where bigger is better.
    pub fn bigger_is_better(&mut self, scenario: &'static str, name: &str) {
        for m in &mut self.metrics {
            if m.scenario == scenario && m.name == name {
                m.higher_is_better = true;
            }
        }
    }

    pub fn add(&mut self, scenario: &'static str, name: &str, subject: &str, value: f64) {
        match self
            .metrics
            .iter_mut()
            .find(|m| m.scenario == scenario && m.name == name)
        {
            Some(m) => m.values.entry(subject.to_string()).or_default().push(value),
            None => self.note(format!("bench bug: figure {scenario}/{name} not declared")),
        }
    }

    pub fn note(&mut self, text: String) {
        eprintln!("  note: {text}");
        self.notes.push(text);
    }

    /// The lines of one scenario, printed when it finishes.
    pub fn print_scenario(&self, scenario: &str) {
        for m in self.metrics.iter().filter(|m| m.scenario == scenario) {
            println!("  {} ({}), target {}", m.name, m.unit, m.goal.text(m.unit));
            for (subject, values) in &m.values {
                if let Some(s) = summarize(values) {
                    let verdict = verdict(m, subject, s.median);
                    println!(
                        "    {subject:<12} median {:>9}  min {:>9}  max {:>9}  n={}  {verdict}",
                        num(s.median),
                        num(s.min),
                        num(s.max),
                        s.n
                    );
                }
            }
        }
    }

    /// The final table: medians per subject, the advantage of taskmaster over supervisord
    /// (how many times better, whichever way "better" points) and the verdicts.
    pub fn table(&self, machine: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Machine: {machine}\n");
        let _ = writeln!(
            out,
            "| scenario | figure | target | taskmaster | supervisord | tm advantage | baseline | issue's supervisord |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for m in &self.metrics {
            let cell = |subject: &str| -> (String, Option<f64>) {
                match m.values.get(subject).and_then(|v| summarize(v)) {
                    Some(s) => {
                        let v = verdict(m, subject, s.median);
                        let text = if s.n > 1 {
                            format!("{} [{}–{}] {v}", num(s.median), num(s.min), num(s.max))
                        } else {
                            format!("{} {v}", num(s.median))
                        };
                        (text.trim_end().to_string(), Some(s.median))
                    }
                    None => ("-".into(), None),
                }
            };
            let (tm, tm_med) = cell("taskmaster");
            let (sd, sd_med) = cell("supervisord");
            let (base, _) = cell("baseline");
            let advantage = match (tm_med, sd_med) {
                (Some(t), Some(s)) if m.ratio && t > 0.0 && s > 0.0 => {
                    let r = if m.goal.higher_is_better() {
                        t / s
                    } else {
                        s / t
                    };
                    format!("{}×", num(r))
                }
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} ({}) | {} | {tm} | {sd} | {advantage} | {base} | {} |",
                m.scenario,
                m.name,
                m.unit,
                m.goal.text(m.unit),
                m.reference.unwrap_or("-")
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "\n- {n}");
        }
        out
    }

    pub fn to_json(&self, machine: &str) -> Value {
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|m| {
                let subjects: serde_json::Map<String, Value> = m
                    .values
                    .iter()
                    .map(|(subject, values)| {
                        let s = summarize(values);
                        let verdict = s.as_ref().and_then(|s| m.goal.met(s.median));
                        (
                            subject.clone(),
                            json!({
                                "values": values,
                                "min": s.as_ref().map(|s| s.min),
                                "median": s.as_ref().map(|s| s.median),
                                "max": s.as_ref().map(|s| s.max),
                                "pass": if subject == "baseline" { None } else { verdict },
                            }),
                        )
                    })
                    .collect();
                json!({
                    "scenario": m.scenario,
                    "figure": m.name,
                    "unit": m.unit,
                    "target": m.goal.text(m.unit),
                    "issue_supervisord": m.reference,
                    "subjects": subjects,
                })
            })
            .collect();
        json!({ "machine": machine, "metrics": metrics, "notes": self.notes })
    }
}

fn verdict(m: &Metric, subject: &str, median: f64) -> &'static str {
    if subject == "baseline" {
        return "";
    }
    match m.goal.met(median) {
        Some(true) => "pass",
        Some(false) => "MISS",
        None => "",
    }
}
