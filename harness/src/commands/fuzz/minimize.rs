//! Delta debugging (Zeller's ddmin, complement removal): a finding's inputs are cut down,
//! first the sequence (which inputs are needed), then the bytes of the last input, each
//! candidate sent to a fresh plug and kept when it still ends in the same class of
//! finding. Bounded by a number of trials and a time: a plug that takes long to start
//! gets a less minimal reproducer, never a run that does not end.

use std::time::{Duration, Instant};

use super::input::Input;
use super::probe::{After, Class, Mode, Session};
use super::reproducer::Sent;

/// Trials and time one finding's minimization may take.
pub struct Budget {
    pub trials: usize,
    pub until: Instant,
}

impl Budget {
    pub fn new(trials: usize, time: Duration) -> Budget {
        Budget {
            trials,
            until: Instant::now() + time,
        }
    }

    fn take(&mut self) -> bool {
        if self.trials == 0 || Instant::now() >= self.until {
            return false;
        }
        self.trials -= 1;
        true
    }
}

/// Whether `inputs`, sent to a fresh plug, end in a finding of `class`.
pub async fn reproduces(inputs: &[Sent], class: Class) -> anyhow::Result<bool> {
    let Some(first) = inputs.first() else {
        return Ok(false);
    };
    let mut s = Session::open(Mode::of(&first.input)).await?;
    let mut hit = false;
    for i in inputs {
        match s.send(&i.input, i.expect).await {
            Err(f) => {
                hit = f.class == class;
                break;
            }
            // A valid command changed the plug's mode: the rest would go nowhere.
            Ok(After::Fresh(_)) => break,
            Ok(After::Continue) => {}
        }
    }
    s.close("minimize").await;
    Ok(hit)
}

/// The inputs cut down as far as the budget allows.
pub async fn minimize(seq: Vec<Sent>, class: Class, budget: &mut Budget) -> anyhow::Result<Vec<Sent>> {
    // Most findings need only the input that showed them: one trial settles it.
    let mut seq = match seq.last() {
        Some(last)
            if seq.len() > 1 && budget.take() && reproduces(std::slice::from_ref(last), class).await? =>
        {
            vec![last.clone()]
        }
        _ => ddmin(seq, class, budget, |s| s.to_vec()).await?,
    };
    // Then the last input's bytes (a pinned code belongs to the whole input: kept whole).
    if let Some(last) = seq.pop() {
        let last = if class == Class::WrongCode {
            last
        } else {
            minimize_bytes(&seq, last, class, budget).await?
        };
        seq.push(last);
    }
    Ok(seq)
}

async fn minimize_bytes(
    before: &[Sent],
    last: Sent,
    class: Class,
    budget: &mut Budget,
) -> anyhow::Result<Sent> {
    let bytes: Vec<u8> = match &last.input {
        Input::Ap(a) => a.writes.concat(),
        Input::Mqtt(m) => m.payload.clone(),
    };
    let rebuild = |b: &[u8]| -> Vec<Sent> {
        let mut input = last.input.clone();
        match &mut input {
            Input::Ap(a) => {
                a.writes = vec![b.to_vec()];
                a.gap_ms = 0;
                a.kind = format!("{} (minimized)", a.kind.trim_end_matches(" (minimized)"));
            }
            Input::Mqtt(m) => {
                m.payload = b.to_vec();
                m.kind = format!("{} (minimized)", m.kind.trim_end_matches(" (minimized)"));
            }
        }
        let mut seq = before.to_vec();
        seq.push(Sent { input, expect: None });
        seq
    };
    // The input written whole first: what follows removes bytes from that.
    if !budget.take() || !reproduces(&rebuild(&bytes), class).await? {
        return Ok(last);
    }
    let best = ddmin(bytes, class, budget, |b| rebuild(b)).await?;
    Ok(rebuild(&best).pop().unwrap_or(last))
}

/// ddmin over `items`: `to_inputs` turns a candidate into what is sent.
async fn ddmin<T: Clone>(
    mut items: Vec<T>,
    class: Class,
    budget: &mut Budget,
    to_inputs: impl Fn(&[T]) -> Vec<Sent>,
) -> anyhow::Result<Vec<T>> {
    let mut n = 2usize;
    while items.len() >= 2 {
        let chunk = items.len().div_ceil(n);
        let mut reduced = false;
        let mut start = 0;
        while start < items.len() {
            let end = (start + chunk).min(items.len());
            let candidate: Vec<T> = items[..start].iter().chain(&items[end..]).cloned().collect();
            start = end;
            if candidate.is_empty() {
                continue;
            }
            if !budget.take() {
                return Ok(items);
            }
            if reproduces(&to_inputs(&candidate), class).await? {
                items = candidate;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if n >= items.len() {
                break;
            }
            n = (n * 2).min(items.len());
        }
    }
    Ok(items)
}
