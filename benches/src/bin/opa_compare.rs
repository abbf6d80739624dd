//! Signalbox's engine and Open Policy Agent side by side, on the same inputs.
//!
//! Loads OPA's own Go evaluator from the c-shared library of the PyPI wheel
//! `opa-golib-python-bindings` (`libopabridge.so`), gives it the shipped policy
//! modules unchanged (tests left out) and `data.signalbox.config` exactly as
//! Signalbox builds it (`evaluate::config_data`), then, for every generated case,
//! hands both engines the same `input` (`evaluate::build_input`) and checks that
//! every applicable policy's finding is identical. Both are then timed on the same
//! cases in the same run, and OPA's per-call overhead is measured on a trivial
//! one-line policy and reported on its own.
//!
//! Usage: `opa_compare --lib PATH/libopabridge.so [--policies DIR] [--cases N] [--rounds R] [--seed S]`
//! (`benches/opa_compare.sh` fetches the wheel and runs this). The last line reads
//! `signalbox <µs>/decision, opa <µs>/decision, ratio <x>, identical <n>/<n>`.

// A measuring tool, not library code: a broken setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::ffi::CString;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use signalbox_benches::{bench_now, describe_us, histogram, shipped_policies_dir, spread_line, Case, Realistic};
use signalbox_core::decision::sanitize_message;
use signalbox_core::evaluate::{build_input, config_data};
use signalbox_core::Evaluator;

mod opa {
    //! The few functions of `libopabridge.so` this tool needs (signatures from
    //! `opa_bindings/_native.py` in the wheel). Every string the library returns is
    //! copied and handed back to `OpaFreeString` at once.
    #![allow(unsafe_code)] // FFI into OPA's c-shared library; each call is wrapped with its contract below.

    use std::ffi::{c_char, c_int, CStr, CString};
    use std::path::Path;

    use anyhow::{anyhow, bail, Context, Result};
    use libloading::Library;

    type NewFn = unsafe extern "C" fn() -> u64;
    type DestroyFn = unsafe extern "C" fn(u64);
    type FreeFn = unsafe extern "C" fn(*mut c_char);
    type AddFn = unsafe extern "C" fn(u64, *const c_char, *const c_char) -> *mut c_char;
    /// `(handle, path, input_json, coverage, trace)`: the two ints switch on
    /// OPA's coverage report and evaluation trace; both stay 0 here.
    type EvalFn = unsafe extern "C" fn(u64, *const c_char, *const c_char, c_int, c_int) -> *mut c_char;

    #[derive(Clone, Copy)]
    struct Functions {
        new: NewFn,
        destroy: DestroyFn,
        free: FreeFn,
        add_policy: AddFn,
        add_data: AddFn,
        eval_document: EvalFn,
    }

    /// The loaded library. A Go runtime cannot be unloaded, so it stays loaded for the process.
    pub struct Bridge {
        functions: Functions,
    }

    impl Bridge {
        pub fn load(path: &Path) -> Result<Bridge> {
            // SAFETY: loading runs the library's initialisers (the Go runtime's start-up),
            // which is what the wheel's own ctypes loader does too.
            let library = unsafe { Library::new(path) }.with_context(|| format!("cannot load {}", path.display()))?;
            let library: &'static Library = Box::leak(Box::new(library));
            // SAFETY: each symbol is given the C signature `_native.py` declares for it.
            let functions = unsafe {
                Functions {
                    new: *library.get::<NewFn>(b"OpaNew\0")?,
                    destroy: *library.get::<DestroyFn>(b"OpaDestroy\0")?,
                    free: *library.get::<FreeFn>(b"OpaFreeString\0")?,
                    add_policy: *library.get::<AddFn>(b"OpaAddPolicy\0")?,
                    add_data: *library.get::<AddFn>(b"OpaAddData\0")?,
                    eval_document: *library.get::<EvalFn>(b"OpaEvalDocument\0")?,
                }
            };
            Ok(Bridge { functions })
        }

        pub fn engine(&self) -> Engine {
            // SAFETY: `OpaNew` takes nothing and returns a handle.
            let handle = unsafe { (self.functions.new)() };
            Engine { functions: self.functions, handle }
        }
    }

    /// One OPA engine (policies, data and a prepared-query cache).
    pub struct Engine {
        functions: Functions,
        handle: u64,
    }

    impl Engine {
        /// Copies and frees a string the library returned.
        fn take(&self, ptr: *mut c_char) -> Result<String> {
            if ptr.is_null() {
                bail!("the OPA bridge returned NULL");
            }
            // SAFETY: a non-null result is a NUL-terminated string the library allocated
            // for us; it is copied before it is freed, and freed exactly once.
            let text = unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned();
            // SAFETY: as above; `OpaFreeString` is the deallocator for these strings.
            unsafe { (self.functions.free)(ptr) };
            Ok(text)
        }

        fn check(envelope: &str) -> Result<()> {
            let value: serde_json::Value = serde_json::from_str(envelope)?;
            match value.get("error") {
                Some(e) if !e.is_null() => Err(anyhow!("OPA: {e}")),
                _ => Ok(()),
            }
        }

        pub fn add_policy(&self, name: &str, text: &str) -> Result<()> {
            let (name, text) = (CString::new(name)?, CString::new(text)?);
            // SAFETY: both arguments are NUL-terminated and outlive the call.
            let ptr = unsafe { (self.functions.add_policy)(self.handle, name.as_ptr(), text.as_ptr()) };
            Self::check(&self.take(ptr)?)
        }

        /// Deep-merges `json` into the data document at the dotted `path`.
        pub fn add_data(&self, path: &str, json: &str) -> Result<()> {
            let (path, json) = (CString::new(path)?, CString::new(json)?);
            // SAFETY: both arguments are NUL-terminated and outlive the call.
            let ptr = unsafe { (self.functions.add_data)(self.handle, path.as_ptr(), json.as_ptr()) };
            Self::check(&self.take(ptr)?)
        }

        /// Evaluates `data.<path>` with `input` (JSON); returns the raw envelope.
        pub fn eval_document(&self, path: &CStr, input: &CStr) -> Result<String> {
            // SAFETY: both arguments are NUL-terminated and outlive the call; coverage
            // and trace are off.
            let ptr = unsafe { (self.functions.eval_document)(self.handle, path.as_ptr(), input.as_ptr(), 0, 0) };
            self.take(ptr)
        }
    }

    impl Drop for Engine {
        fn drop(&mut self) {
            // SAFETY: the handle came from `OpaNew` and is destroyed once.
            unsafe { (self.functions.destroy)(self.handle) };
        }
    }
}

struct Args {
    lib: PathBuf,
    policies: PathBuf,
    cases: usize,
    rounds: usize,
    seed: u64,
}

fn args() -> Result<Args> {
    let mut args = Args { lib: PathBuf::new(), policies: shipped_policies_dir(), cases: 2_000, rounds: 3, seed: 2027 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--lib" => args.lib = PathBuf::from(value()?),
            "--policies" => args.policies = PathBuf::from(value()?),
            "--cases" => args.cases = value()?.parse()?,
            "--rounds" => args.rounds = value()?.parse()?,
            "--seed" => args.seed = value()?.parse()?,
            other => bail!("unknown argument `{other}`; usage: opa_compare --lib PATH [--policies DIR] [--cases N] [--rounds R] [--seed S]"),
        }
    }
    if args.lib.as_os_str().is_empty() {
        bail!("--lib PATH/libopabridge.so is required");
    }
    Ok(args)
}

/// One module gathering every applicable policy's finding, keyed by path, so OPA
/// answers a decision in one call. "Applicable" reads the same environment
/// limits Signalbox applies (`[policies] environments`), given as data.
fn gatherer(evaluator: &Evaluator) -> String {
    let mut text = String::from(
        "package signalbox_compare\n\nimport rego.v1\n\n\
         applies(path) if not data.signalbox_compare_limits[path]\n\n\
         applies(path) if input.train.environment in data.signalbox_compare_limits[path]\n",
    );
    for entry in evaluator.policies().entries() {
        text.push_str(&format!(
            "\nfindings[path] := f if {{\n\tpath := {:?}\n\tapplies(path)\n\tf := data.signalbox.{}.finding\n}}\n",
            entry.path, entry.path
        ));
    }
    text
}

fn limits(evaluator: &Evaluator) -> Value {
    let config = evaluator.config();
    let limits: serde_json::Map<String, Value> = evaluator
        .policies()
        .entries()
        .iter()
        .filter_map(|e| config.policy_environments(&e.names()).map(|envs| (e.path.clone(), json!(envs))))
        .collect();
    Value::Object(limits)
}

/// `path -> (outcome, message)` from OPA's envelope for `signalbox_compare.findings`.
fn opa_findings(envelope: &str) -> Result<BTreeMap<String, (String, String)>> {
    let value: Value = serde_json::from_str(envelope)?;
    if let Some(e) = value.get("error").filter(|e| !e.is_null()) {
        bail!("OPA error: {e}");
    }
    let doc = value
        .pointer("/result/0/expressions/0/value")
        .with_context(|| format!("undefined or unexpected result: {envelope}"))?;
    let object = doc.as_object().with_context(|| format!("not an object: {doc}"))?;
    let mut out = BTreeMap::new();
    for (path, finding) in object {
        let text = |k: &str| finding.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        if finding.as_object().map(serde_json::Map::len) != Some(2) {
            bail!("malformed finding for {path}: {finding}");
        }
        out.insert(path.clone(), (text("outcome"), sanitize_message(text("message").trim())));
    }
    Ok(out)
}

fn signalbox_findings(evaluator: &Evaluator, case: &Case) -> BTreeMap<String, (String, String)> {
    evaluator
        .evaluate(&case.train, case.context(&[]), case.at)
        .findings
        .into_iter()
        .map(|f| (f.policy, (f.outcome.as_str().to_string(), f.message)))
        .collect()
}

fn main() -> Result<()> {
    let args = args()?;
    let now = bench_now();
    let realistic = Realistic::new(now, 42)?;
    let started = Instant::now();
    let evaluator = signalbox_benches::evaluator(&args.policies, &realistic.config)?;
    println!("signalbox: Evaluator::new in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    let cases = realistic.cases(Some(&evaluator), args.cases, args.seed, 1);
    println!("cases: {} ({})", cases.len(), spread_line(&cases));

    // OPA: the shipped modules unchanged, the configuration as data, the gatherer.
    let bridge = opa::Bridge::load(&args.lib)?;
    let engine = bridge.engine();
    let started = Instant::now();
    let set = signalbox_server::policies::read_dir(&args.policies)?;
    let mut modules = 0;
    for module in set.modules() {
        engine.add_policy(&module.path, &module.text).with_context(|| format!("OPA refused {}", module.path))?;
        modules += 1;
    }
    engine.add_data("signalbox.config", &config_data(evaluator.config()).to_string())?;
    engine.add_data("signalbox_compare_limits", &limits(&evaluator).to_string())?;
    engine.add_policy("signalbox_compare.rego", &gatherer(&evaluator))?;
    println!(
        "opa: {modules} shipped modules and the configuration loaded in {:.1} ms (queries are prepared on first use)",
        started.elapsed().as_secs_f64() * 1e3
    );

    // The same inputs for both: OPA gets them as JSON text, made before timing.
    let inputs: Vec<CString> = cases
        .iter()
        .map(|c| {
            CString::new(build_input(&c.train, c.context(&realistic.exceptions), c.at, evaluator.config()).to_string())
        })
        .collect::<Result<_, _>>()?;
    let mean_input = inputs.iter().map(|i| i.as_bytes().len()).sum::<usize>() / inputs.len().max(1);
    println!("input: {mean_input} bytes of JSON on average");
    let document = CString::new("signalbox_compare.findings")?;

    // 1. Identical decisions, policy by policy, before exceptions.
    let mut identical = 0;
    let mut shown = 0;
    for (case, input) in cases.iter().zip(&inputs) {
        let theirs = opa_findings(&engine.eval_document(&document, input)?);
        let ours = signalbox_findings(&evaluator, case);
        match theirs {
            Ok(theirs) if theirs == ours => identical += 1,
            other => {
                if shown < 5 {
                    shown += 1;
                    eprintln!(
                        "MISMATCH {} at {}:\n  signalbox: {ours:?}\n  opa:       {other:?}",
                        case.train.id, case.at
                    );
                }
            }
        }
    }
    println!("identical decisions: {identical}/{}", cases.len());

    // 2. Timing, same cases, same run: a warm-up pass each, then alternating rounds.
    let mut sb = histogram();
    let mut sb_policies = histogram();
    let mut opa_hist = histogram();
    for round in 0..=args.rounds {
        let record = round > 0;
        for case in &cases {
            let t = Instant::now();
            black_box(evaluator.evaluate(&case.train, case.context(&realistic.exceptions), case.at));
            let ns = t.elapsed().as_nanos() as u64;
            if record {
                sb.record(ns.max(1))?;
            }
        }
        for case in &cases {
            let t = Instant::now();
            black_box(evaluator.evaluate(&case.train, case.context(&[]), case.at));
            let ns = t.elapsed().as_nanos() as u64;
            if record {
                sb_policies.record(ns.max(1))?;
            }
        }
        for input in &inputs {
            let t = Instant::now();
            black_box(engine.eval_document(&document, input)?);
            let ns = t.elapsed().as_nanos() as u64;
            if record {
                opa_hist.record(ns.max(1))?;
            }
        }
    }

    // 3. OPA's per-call overhead: a trivial one-line policy, same inputs, and with an empty input.
    let trivial = bridge.engine();
    trivial.add_policy("trivial.rego", "package trivial\n\nimport rego.v1\n\nallow := true\n")?;
    let trivial_doc = CString::new("trivial.allow")?;
    let empty = CString::new("{}")?;
    let mut overhead = histogram();
    let mut overhead_empty = histogram();
    for round in 0..=args.rounds {
        for input in &inputs {
            let t = Instant::now();
            black_box(trivial.eval_document(&trivial_doc, input)?);
            let ns = t.elapsed().as_nanos() as u64;
            let t = Instant::now();
            black_box(trivial.eval_document(&trivial_doc, &empty)?);
            let ns_empty = t.elapsed().as_nanos() as u64;
            if round > 0 {
                overhead.record(ns.max(1))?;
                overhead_empty.record(ns_empty.max(1))?;
            }
        }
    }

    let us = |h: &hdrhistogram::Histogram<u64>| h.mean() / 1_000.0;
    println!("signalbox, whole decision (7 policies, 100 live exceptions): {}", describe_us(&sb));
    println!("signalbox, policies only (no exceptions):                    {}", describe_us(&sb_policies));
    println!("opa, one call per decision (every applicable policy):        {}", describe_us(&opa_hist));
    println!("opa call overhead, trivial policy, same input:               {}", describe_us(&overhead));
    println!("opa call overhead, trivial policy, input {{}}:                 {}", describe_us(&overhead_empty));
    let net = us(&opa_hist) - us(&overhead);
    println!("opa without its call overhead: {net:.1} µs/decision, {:.1}x signalbox's whole decision", net / us(&sb));
    println!(
        "signalbox {:.1} µs/decision, opa {:.1} µs/decision, ratio {:.1}x, identical {identical}/{}",
        us(&sb),
        us(&opa_hist),
        us(&opa_hist) / us(&sb),
        cases.len()
    );
    if identical != cases.len() {
        std::process::exit(1);
    }
    Ok(())
}
