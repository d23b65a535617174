//! Progress of the worker's long jobs (loading, indexing, exports), for the page's progress bar.
//!
//! A job says what it does and how many bytes it expects to read ([`begin`]); the Blob source
//! counts every byte it reads from the browser ([`add`]); a reporter (the worker posts a
//! message) is called at most every [`INTERVAL_MS`]. The expected total is an estimate (a walk
//! may read a block twice), so the page caps the bar below 100 % until the job answers.

use std::cell::RefCell;

/// Milliseconds between two reports.
pub const INTERVAL_MS: f64 = 100.0;

/// Called with (label, bytes done, bytes expected).
pub type Reporter = fn(&str, u64, u64);

struct State {
    label: String,
    done: u64,
    total: u64,
    last: f64,
    /// The job reports its position itself ([`at`]); Blob reads are not counted.
    positioned: bool,
    reporter: Option<Reporter>,
    clock: fn() -> f64,
}

fn no_clock() -> f64 {
    0.0
}

thread_local! {
    static STATE: RefCell<State> = const { RefCell::new(State {
        label: String::new(),
        done: 0,
        total: 0,
        last: f64::NEG_INFINITY,
        positioned: false,
        reporter: None,
        clock: no_clock,
    }) };
}

/// Installs the reporter and the clock (milliseconds).
pub fn set_reporter(reporter: Reporter, clock: fn() -> f64) {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.reporter = Some(reporter);
        s.clock = clock;
    });
}

/// Starts a job: reports at once, then as bytes are added.
pub fn begin(label: &str, total: u64) {
    start(label, total, false);
}

/// Starts a job that reports its position with [`at`] (a decompressor knows how far into its
/// input it is; the Blob reads under it come in large blocks).
pub fn begin_positioned(label: &str, total: u64) {
    start(label, total, true);
}

fn start(label: &str, total: u64, positioned: bool) {
    let report = STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.positioned = positioned;
        s.label = label.to_string();
        s.done = 0;
        s.total = total;
        s.last = (s.clock)();
        s.reporter
    });
    if let Some(r) = report {
        r(label, 0, total);
    }
}

/// Counts `n` bytes done; reports when the interval has passed.
pub fn add(n: u64) {
    step(|s| {
        if !s.positioned {
            s.done += n;
        }
    });
}

/// Sets a positioned job's position.
pub fn at(pos: u64) {
    step(|s| {
        if s.positioned {
            s.done = pos;
        }
    });
}

fn step(f: impl FnOnce(&mut State)) {
    let due = STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.label.is_empty() {
            return None;
        }
        f(&mut s);
        let now = (s.clock)();
        if now - s.last < INTERVAL_MS {
            return None;
        }
        s.last = now;
        s.reporter.map(|r| (r, s.label.clone(), s.done, s.total))
    });
    if let Some((r, label, done, total)) = due {
        r(&label, done, total);
    }
}

/// Ends the job (later reads are not counted).
pub fn end() {
    STATE.with(|s| s.borrow_mut().label.clear());
}

/// Bytes counted since the job began (benchmarks read it).
pub fn done() -> u64 {
    STATE.with(|s| s.borrow().done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static SEEN: Cell<u32> = const { Cell::new(0) };
        static NOW: Cell<f64> = const { Cell::new(0.0) };
    }

    #[test]
    fn reports_are_throttled() {
        set_reporter(
            |_, _, _| SEEN.with(|c| c.set(c.get() + 1)),
            || NOW.with(|n| n.get()),
        );
        begin("job", 100);
        assert_eq!(SEEN.with(|c| c.get()), 1);
        add(10);
        add(10);
        assert_eq!(SEEN.with(|c| c.get()), 1);
        NOW.with(|n| n.set(150.0));
        add(10);
        assert_eq!(SEEN.with(|c| c.get()), 2);
        assert_eq!(done(), 30);
        end();
        NOW.with(|n| n.set(1000.0));
        add(10);
        assert_eq!(SEEN.with(|c| c.get()), 2);
    }
}
