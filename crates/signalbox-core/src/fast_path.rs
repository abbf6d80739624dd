//! The compiled fast path: audited policies compiled once for regorus' RVM.
//!
//! `Evaluator::new` compiles the policies it may into one RVM program, one
//! entry point per policy (`data.signalbox.<path>.finding`), and decisions run
//! those entry points on a pooled [`RegoVM`] instead of cloning the interpreter.
//! Anything the fast path does not answer cleanly — a policy that is not
//! compiled, a VM error, a time-out, a result that is not a well-formed finding
//! — is answered by the interpreter instead, exactly as before.
//!
//! # Why only audited modules
//!
//! The RVM does not fail the way the interpreter does. Inside a rule body it
//! swallows every error that is not a resource limit (a failing built-in such
//! as `to_number("x")`, a type error) and treats the body as failed; a complete
//! rule whose definitions disagree becomes undefined instead of a conflict
//! error. The interpreter raises an error in both cases, and Signalbox turns
//! that error into a `manual` finding (fail closed). On the RVM the same policy
//! would quietly pass or give a different finding: the fixtures
//! `policy-overrides/builtin-error` and `policy-overrides/conflict` do exactly
//! that. No fallback can catch it, because nothing fails.
//!
//! So a policy runs here only when it cannot raise a run-time error at all, and
//! that is decided by audit, not by trying: [`AUDITED`] holds the SHA-256 of
//! module texts that were read for it (every built-in's arguments have the types
//! the built-in needs for any `input` built by `evaluate.rs` and any
//! `data.signalbox.config` built by `config_data`; no complete rule or function
//! can produce two values). Any other module — a custom policy, an edited one,
//! a module that shares or nests inside a package the audited ones read — keeps
//! its policies, or the policies that read it, on the interpreter. Editing a
//! shipped policy therefore costs speed, never correctness; the test
//! `shipped_policies_take_the_fast_path` says when the table needs a re-audit.
//!
//! One rewrite happens before compiling, and only of audited texts: a use of an
//! import alias (`lib.justification_suffix`) is written as the reference it
//! stands for (`data.signalbox.lib.justification_suffix`), which Rego defines to
//! be the same. The RVM compiler would otherwise evaluate the whole `lib`
//! package at every such use; spelt out, it is one rule call (about 15% of the
//! VM's time on the shipped policies).
//!
//! The time limit applies to the RVM as to the interpreter: each policy's entry
//! point runs under the configured `ExecutionTimerConfig` (the VM reads the clock
//! every `VM_CHECK_INTERVAL` instructions and stops with an error past the
//! limit), and a time-out, like any VM error, hands the policy to the
//! interpreter, which decides it as it always did. A policy that runs past the
//! limit therefore costs up to twice the limit before its error finding.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::{Program, RegoVM};
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};
use sha2::{Digest, Sha256};

use crate::policy::{PolicyEntry, PolicySet, PolicySource};

/// SHA-256 (hex) of the module texts audited for the RVM, with the file each came from.
///
/// Re-audit before adding a digest: read the module for any built-in call that
/// can fail, any arithmetic on a value that may not be a number, and any
/// complete rule or function whose definitions (or iterations) can give two
/// different values, for every `input` and `data.signalbox.config` Signalbox
/// builds; and for any use of its import alias as a local name. Then update the
/// digest here. What the audit of the shipped modules found:
///
/// - `sprintf` gets `%s` arguments (any value formats) and, in `duration_text`,
///   `%d` with integers (`floor` of numbers); `concat` and `sort` get sets of
///   strings built by `sprintf` or from string names; `trim_space` runs only after
///   `is_string`; `max` gets arrays of integers; `count` gets sets. Arithmetic
///   is on `*_ms` integers only (`baked_ms` needs `deployment.at_ms`, which is an
///   integer or absent); `change_freeze` and `business_hours` compare the
///   `start_ms`/`end_ms` integers of `config_data` and of `input.business_hours`
///   with locals bound to `input.window.end_ms` and `lib.effective_start_ms`
///   (integers). `sla` indexes `sla_index` by the train's squad, environment
///   and service, and by `"*"` (strings; an absent key is undefined, not an
///   error, and so is indexing `true` or a missing level), and only without the
///   index (`not data.signalbox.config.sla_index`) indexes the `slas` object by
///   the squad. `change_freeze.candidates` calls
///   `array.concat` only on two arrays (`freeze_index.long` and a comprehension)
///   and indexes `freeze_index.weeks` with the strings of `input.window.weeks`,
///   after `is_array` (a missing week is undefined, not an error).
///   `cie.excerpt` calls `count` and `substring` (with integer bounds) only
///   after `is_string`, and its three definitions exclude each other.
/// - Complete rules with several definitions: `stage_bake.finding` (one needs
///   `not deployment`, the other `baked_ms`, which needs `deployment`), and
///   else-chains (`deployment`, `subject`, `crb_suffix`, `justification_suffix`,
///   `candidates`).
///   Functions with several definitions (`covers`, `includes`,
///   `service_matches`) all give `true`. `covered` gives `true` for every match.
const AUDITED: [(&str, &str); 8] = [
    ("5084c11774f4923236e0b161139ad6356434b7a7383ae83ed41e65a980c97937", "lib/window.rego"),
    ("9075e262051557aa0f7279519d7de9a209dcfd142f2baa422d13d1b8bafc4f5c", "scheduling/start_time.rego"),
    ("39d275a871249d1de2c451d775d092323880501b878d35d1f91ad2f9116081af", "global/cie.rego"),
    ("a32b72f687dd271a0d650a65e3d3ed2942fd236b1064ed535cbe0edf49671dca", "scheduling/change_freeze.rego"),
    ("3c1f3939074101cd6f9348e6955f428fd14269a8bc623cd2070308eaa9519db2", "global/business_hours.rego"),
    ("12edc99f7b2a53b3a0a13eea70c9e98acc8392ba22522f6b5a57beaf32a524dc", "global/stage_bake.rego"),
    ("3c1030c106683aaba3ea115e1035962565252b2482037f039d6a9d3ccf9ae8d1", "global/on_hold.rego"),
    ("c7394c1a68f440f85f00f86e4383aa07c14dda9ecd14aff39d3a724d9facecfc", "global/sla.rego"),
];

/// The helper package every audited policy may read.
const LIB: [&str; 2] = ["signalbox", "lib"];
/// Where the configuration is loaded as data.
const CONFIG: [&str; 2] = ["signalbox", "config"];

/// Instructions between two looks at the clock on the RVM. A VM instruction is
/// far cheaper than an interpreter step, and reading the clock every 32 of them
/// costs about 2% of a decision; 512 instructions still take only microseconds,
/// nothing next to a time limit of milliseconds.
const VM_CHECK_INTERVAL: u32 = 512;

/// Idle VMs kept for reuse; more concurrent decisions than this make a VM and drop it after.
const MAX_IDLE: usize = 64;

/// The compiled program and what it needs to run: shared by every clone of an evaluator.
pub(crate) struct FastPath {
    program: Arc<Program>,
    data: Value,
    /// The per-policy time limit, as the interpreter has it.
    timer: ExecutionTimerConfig,
    /// For each manifest entry (priority order), its entry point in `program`, if it runs here.
    entry_points: Vec<Option<usize>>,
    /// Instruction limit per policy; only tests lower it (to force a fallback).
    max_instructions: AtomicUsize,
    idle: Mutex<Vec<RegoVM>>,
}

impl std::fmt::Debug for FastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPath")
            .field("instructions", &self.program.instructions.len())
            .field("entry_points", &self.entry_points)
            .finish_non_exhaustive()
    }
}

impl FastPath {
    /// Compiles the policies that may run on the RVM; `None` when none can (every
    /// policy then stays on the interpreter). `packages` are the package paths of
    /// `policies.modules()`, in the same order.
    pub(crate) fn prepare(
        policies: &PolicySet,
        packages: &[Vec<String>],
        data: &Value,
        timer: ExecutionTimerConfig,
    ) -> Option<FastPath> {
        if policies.modules().count() != packages.len() {
            return None;
        }
        let modules: Vec<(&PolicySource, &[String])> =
            policies.modules().zip(packages.iter().map(Vec::as_slice)).collect();
        let trusted: Vec<bool> = modules.iter().map(|(m, pkg)| is_trusted(m, pkg, &modules)).collect();
        let trusted_modules = || modules.iter().zip(&trusted).filter(|(_, t)| **t).map(|(m, _)| *m);
        // Every package an audited policy reads must come from trusted modules only.
        let clean = |read: &[&str]| modules.iter().zip(&trusted).all(|((_, pkg), t)| *t || !comparable(pkg, read));
        let has_lib = trusted_modules().any(|(_, pkg)| *pkg == LIB);
        let shared_clean = has_lib && clean(&LIB) && clean(&CONFIG);
        let eligible: Vec<bool> = policies
            .entries()
            .iter()
            .map(|entry| {
                shared_clean && trusted_modules().any(|(m, pkg)| m.path == entry.file && is_package_of(pkg, entry))
            })
            .collect();
        let rules: Vec<String> =
            policies.entries().iter().zip(&eligible).filter(|(_, e)| **e).map(|(entry, _)| entry.rule()).collect();
        let first = rules.first()?;

        let mut engine = Engine::new();
        engine.set_strict_builtin_errors(true);
        for (module, _) in trusted_modules() {
            engine.add_policy(module.path.clone(), qualify_imports(&module.text)).ok()?;
        }
        engine.add_data(data.clone()).ok()?;
        let compiled = engine.compile_with_entrypoint(&first.as_str().into()).ok()?;
        let names: Vec<&str> = rules.iter().map(String::as_str).collect();
        let program = Compiler::compile_from_policy(&compiled, &names).ok()?;

        let mut next = 0;
        let entry_points = eligible
            .iter()
            .map(|e| {
                e.then(|| {
                    let index = next;
                    next += 1;
                    index
                })
            })
            .collect();
        let fast = FastPath {
            program,
            data: data.clone(),
            timer,
            entry_points,
            max_instructions: AtomicUsize::new(usize::MAX),
            idle: Mutex::new(Vec::new()),
        };
        // A VM that cannot even be set up (say, rules clash with data) means no fast path.
        let vm = fast.new_vm()?;
        fast.give_back(vm);
        Some(fast)
    }

    /// Whether the `index`-th manifest entry runs on the RVM.
    pub(crate) fn runs(&self, index: usize) -> bool {
        self.entry_points.get(index).is_some_and(Option::is_some)
    }

    /// Paths of the manifest entries that run on the RVM.
    pub(crate) fn compiled<'a>(&self, entries: &'a [PolicyEntry]) -> Vec<&'a str> {
        entries.iter().zip(&self.entry_points).filter(|(_, e)| e.is_some()).map(|(e, _)| e.path.as_str()).collect()
    }

    pub(crate) fn set_max_instructions(&self, limit: usize) {
        self.max_instructions.store(limit, Ordering::Relaxed);
    }

    /// Runs the wanted compiled policies on `input`, one entry point each (each
    /// under the time limit). Gives, per manifest entry, the finding's value
    /// (`Value::Undefined`: the policy passes), or `None` where the policy was not
    /// wanted, does not run here, or failed (an error, a time-out, no VM to be had).
    pub(crate) fn run(&self, input: Value, wanted: impl Iterator<Item = bool>) -> Vec<Option<Value>> {
        let mut vm = match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(vm) => Some(vm),
            None => self.new_vm(),
        };
        if let Some(vm) = &mut vm {
            vm.set_max_instructions(self.max_instructions.load(Ordering::Relaxed));
            vm.set_input(input);
        }
        let results = self
            .entry_points
            .iter()
            .zip(wanted)
            .map(|(entry_point, wanted)| {
                let (vm, entry_point) = (vm.as_mut()?, (*entry_point)?);
                wanted.then(|| vm.execute_entry_point_by_index(entry_point).ok()).flatten()
            })
            .collect();
        if let Some(mut vm) = vm {
            // Do not keep the train alive in an idle VM.
            vm.set_input(Value::Null);
            self.give_back(vm);
        }
        results
    }

    fn new_vm(&self) -> Option<RegoVM> {
        let mut vm = RegoVM::new();
        vm.load_program(self.program.clone());
        vm.set_data(self.data.clone()).ok()?;
        vm.set_strict_builtin_errors(true);
        vm.set_execution_timer_config(Some(ExecutionTimerConfig {
            limit: self.timer.limit,
            check_interval: self.timer.check_interval.max(NonZeroU32::MIN.saturating_add(VM_CHECK_INTERVAL - 1)),
        }));
        Some(vm)
    }

    fn give_back(&self, vm: RegoVM) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(vm);
            }
        }
    }
}

/// Writes each use of an import alias, `lib.x` after `import data.signalbox.lib`,
/// as the full reference `data.signalbox.lib.x`: the same reference, by Rego's
/// definition of an import. The RVM compiler turns an aliased reference into a
/// lookup of the whole package's virtual document (every rule of the package
/// evaluated and gathered on each use); the full path compiles to one rule call.
/// Comments and strings are left alone. Only audited texts come through here.
fn qualify_imports(text: &str) -> String {
    let imports: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("import "))
        .map(str::trim)
        .filter(|path| path.starts_with("data.") && path.split('.').all(is_identifier))
        .filter_map(|path| path.rsplit('.').next().map(|alias| (alias, path)))
        .collect();
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    let mut previous = '\n';
    while let Some(c) = rest.chars().next() {
        let taken = match c {
            '#' => rest.find('\n').unwrap_or(rest.len()),
            '"' | '`' => string_length(rest, c),
            c if is_identifier_start(c) => {
                let end = rest.find(|c: char| !is_identifier_char(c)).unwrap_or(rest.len());
                let word = rest.get(..end).unwrap_or_default();
                let after = rest.get(end..).unwrap_or_default();
                let path = imports.iter().find(|(alias, _)| *alias == word).map(|(_, path)| *path);
                match path {
                    Some(path) if previous != '.' && after.starts_with('.') => {
                        out.push_str(path);
                        previous = 'x';
                        rest = after;
                        continue;
                    }
                    _ => end,
                }
            }
            _ => c.len_utf8(),
        };
        let Some((head, tail)) = rest.split_at_checked(taken.clamp(c.len_utf8(), rest.len())) else {
            // Not reachable (every length above ends on a character); keep the rest as it is.
            out.push_str(rest);
            break;
        };
        out.push_str(head);
        previous = head.chars().next_back().unwrap_or(previous);
        rest = tail;
    }
    out
}

/// Bytes of the string literal at the start of `text` (opened by `quote`), quotes included.
fn string_length(text: &str, quote: char) -> usize {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            '\\' if quote == '"' && !escaped => escaped = true,
            c if c == quote && !escaped => return i + c.len_utf8(),
            _ => escaped = false,
        }
    }
    text.len()
}

fn is_identifier(word: &str) -> bool {
    word.chars().next().is_some_and(is_identifier_start) && word.chars().all(is_identifier_char)
}

fn is_identifier_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// An audited module that is the only one in its package (and in any package nested in or around it).
fn is_trusted(module: &PolicySource, package: &[String], modules: &[(&PolicySource, &[String])]) -> bool {
    let digest = hex::encode(Sha256::digest(module.text.as_bytes()));
    AUDITED.iter().any(|(d, _)| *d == digest)
        && modules.iter().filter(|(_, other)| comparable(other, package)).count() == 1
}

/// Whether one package path is a prefix of the other: rules of either can land in the other's documents.
fn comparable<A: AsRef<str>, B: AsRef<str>>(a: &[A], b: &[B]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.as_ref() == y.as_ref())
}

/// Whether `package` is `signalbox.<entry.path>`.
fn is_package_of(package: &[String], entry: &PolicyEntry) -> bool {
    let expected = std::iter::once("signalbox").chain(entry.path.split('.'));
    package.len() == entry.path.split('.').count() + 1 && package.iter().map(String::as_str).eq(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_aliases_are_written_in_full() {
        let text = "package signalbox.global.x\n\nimport data.signalbox.lib\nimport rego.v1\n\n# lib.not_this\nf := sprintf(\"lib.%s\", [lib.suffix]) if lib.includes(input.a.lib, \"x\\\"lib.y\")\ng := [lib | lib := 1]\n";
        let want = "package signalbox.global.x\n\nimport data.signalbox.lib\nimport rego.v1\n\n# lib.not_this\nf := sprintf(\"lib.%s\", [data.signalbox.lib.suffix]) if data.signalbox.lib.includes(input.a.lib, \"x\\\"lib.y\")\ng := [lib | lib := 1]\n";
        assert_eq!(qualify_imports(text), want);
    }

    #[test]
    fn packages_compare_by_prefix() {
        let p = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert!(comparable(&p("signalbox.lib"), &LIB));
        assert!(comparable(&p("signalbox"), &LIB));
        assert!(comparable(&p("signalbox.lib.extra"), &LIB));
        assert!(!comparable(&p("signalbox.global.cie"), &LIB));
        assert!(!comparable(&p("signalbox.global.cie"), &p("signalbox.global.sla")));
        assert!(comparable(&p("signalbox.global"), &p("signalbox.global.sla")));
    }
}
