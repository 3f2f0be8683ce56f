//! The fuzz targets' stand-in on stable Rust: the same four parsers of
//! untrusted text (the target grammar, console output, the config file,
//! GetPasswordData and key files), fed mutations of the seeds in
//! `fuzz/seeds/` from a fixed-seed generator for a bounded time, and every
//! input the fuzzer ever found (`fuzz/regressions/`) replayed. A panic
//! names the input that caused it. `scripts/fuzz` runs the real thing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use berth::model::hint::Hint as _;
use berth::secrets::password::{RsaKey, decrypt_password, load_private_key};

/// Mutations per target, at most.
const ROUNDS: usize = 4000;
/// Time per target, at most.
const BUDGET: Duration = Duration::from_secs(4);

/// Pieces of the formats, for mutations to splice in.
const TOKENS: &[&str] = &[
    "/",
    ":",
    "arn:",
    "arn:aws:ecs:",
    "i-",
    "task/",
    "service/",
    "container-instance/",
    "\n",
    "\r\n",
    " ",
    "=",
    "\"",
    "[",
    "]",
    "[clusters.",
    "ec2: ",
    "-----BEGIN SSH HOST KEY KEYS-----",
    "-----END SSH HOST KEY KEYS-----",
    "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
    "-----END SSH HOST KEY FINGERPRINTS-----",
    "ssh-ed25519 ",
    "ssh-rsa ",
    "256 SHA256:",
    "MD5:",
    "AAAA",
    "-----BEGIN RSA PRIVATE KEY-----",
    "é",
    "\u{0}",
    "\u{feff}",
];

/// xorshift64*: reproducible, dependency-free.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}

/// One to four random edits of `input`.
fn mutate(random: &mut Random, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=random.below(4) {
        let at = random.below(out.len() + 1);
        match random.below(7) {
            0 if !out.is_empty() => {
                let i = random.below(out.len());
                out[i] ^= 1 << random.below(8);
            }
            1 => out.insert(at, u8::try_from(random.below(256)).unwrap_or(0)),
            2 if !out.is_empty() => {
                let end = (at + random.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 => {
                let token = TOKENS[random.below(TOKENS.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            4 if !out.is_empty() => {
                let start = random.below(out.len());
                let end = (start + random.below(64)).min(out.len());
                let piece = out[start..end].to_vec();
                out.splice(at..at, piece);
            }
            5 if !seeds.is_empty() => {
                let other = &seeds[random.below(seeds.len())];
                let cut = random.below(other.len() + 1);
                out.truncate(at);
                out.extend_from_slice(&other[cut..]);
            }
            _ => {
                let digits = random.below(12).to_string();
                out.splice(at..at, digits.bytes());
            }
        }
    }
    out
}

fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// Replays the target's regressions, then runs mutations of its seeds.
fn run(name: &str, check: impl Fn(&str)) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = files_in(&fuzz.join("seeds").join(name));
    assert!(!seeds.is_empty(), "no seeds in fuzz/seeds/{name}");
    let attempt = |input: &[u8]| {
        let text = String::from_utf8_lossy(input);
        assert!(
            catch_unwind(AssertUnwindSafe(|| check(&text))).is_ok(),
            "{name} panicked on {:?}",
            String::from_utf8_lossy(input)
        );
    };
    for input in files_in(&fuzz.join("regressions").join(name))
        .iter()
        .chain(&seeds)
    {
        attempt(input);
    }
    let mut random = Random(0x005E_ED0F_BE27 ^ name.len() as u64);
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < ROUNDS && started.elapsed() < BUDGET {
        let seed = &seeds[random.below(seeds.len())];
        attempt(&mutate(&mut random, seed, &seeds));
        rounds += 1;
    }
    assert!(rounds > 100, "{name}: only {rounds} rounds ran");
}

#[test]
fn the_target_parser_never_panics() {
    run("target", |text| match berth::model::target::parse(text) {
        Ok(query) => assert!(!query.target.to_string().is_empty()),
        Err(e) => assert!(!e.to_string().is_empty() && e.hint().is_some_and(|h| !h.is_empty())),
    });
}

#[test]
fn the_console_output_parser_never_panics() {
    run("console_output", |text| {
        for key in berth::host_keys::console::parse(text).keys {
            assert!(key.fingerprint.starts_with("SHA256:"));
        }
    });
}

#[test]
fn the_config_parser_never_panics() {
    run("config", |text| {
        if let Err(message) = berth::config::Config::parse(text, Some(Path::new("/home/op"))) {
            assert!(!message.is_empty());
        }
    });
}

fn test_key() -> &'static RsaKey {
    static KEY: OnceLock<RsaKey> = OnceLock::new();
    KEY.get_or_init(|| {
        load_private_key(
            include_str!("../../src/secrets/testdata/rsa-pkcs1.pem"),
            None,
        )
        .expect("the test key loads")
    })
}

#[test]
fn password_data_and_key_files_never_panic() {
    run("password_data", |text| {
        let _ = decrypt_password(text, test_key());
        let _ = load_private_key(text, None);
    });
}
