//! Pinned reasons: every table row's reason sentences, kept per test file in
//! `src/analysis/tests/reasons/<file>.json` (row name to reasons), so that a change to any
//! sentence, or to which sentences a verdict gives, fails the row that shows it. After a
//! deliberate change, `VANTAGE_BLESS_REASONS=1 cargo test --lib analysis::tests` rewrites the
//! files; review the diff like code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// Rows of one test file: what the file pins, and (when blessing) what the rows gave.
pub(super) struct Pinned {
    path: PathBuf,
    pinned: BTreeMap<String, Vec<String>>,
    bless: bool,
    seen: Mutex<BTreeMap<String, Vec<String>>>,
}

/// One writer at a time: several tests of a file bless the same file.
static WRITING: Mutex<()> = Mutex::new(());

fn read(path: &PathBuf) -> BTreeMap<String, Vec<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a reasons file: {e}", path.display())),
        Err(_) => BTreeMap::new(),
    }
}

impl Pinned {
    /// The pinned reasons for the rows of `caller` (a test file's path).
    pub(super) fn of(caller: &str) -> Pinned {
        let stem = std::path::Path::new(caller)
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a test file");
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("src/analysis/tests/reasons")
            .join(format!("{stem}.json"));
        let pinned = read(&path);
        Pinned {
            path,
            pinned,
            bless: std::env::var_os("VANTAGE_BLESS_REASONS").is_some(),
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether `reasons` are the ones pinned for the row `name` (always, when blessing).
    pub(super) fn check(&self, name: &str, reasons: &[String]) -> Result<(), String> {
        let mut seen = self.seen.lock().unwrap();
        if seen.insert(name.to_string(), reasons.to_vec()).is_some() {
            return Err(format!("{name}: two rows of one table have this name"));
        }
        if self.bless {
            return Ok(());
        }
        match self.pinned.get(name) {
            Some(p) if p == reasons => Ok(()),
            Some(p) => Err(format!(
                "{name}:\n  reasons changed (VANTAGE_BLESS_REASONS=1 rewrites {}):\n  pinned {p:#?}\n  got    {reasons:#?}",
                self.path.display()
            )),
            None => Err(format!(
                "{name}: no reasons pinned in {} (VANTAGE_BLESS_REASONS=1 adds them)",
                self.path.display()
            )),
        }
    }

    /// When blessing, writes the rows' reasons into the file (other tables' rows kept).
    pub(super) fn bless(&self) {
        if !self.bless {
            return;
        }
        let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = read(&self.path);
        all.extend(self.seen.lock().unwrap().clone());
        std::fs::create_dir_all(self.path.parent().unwrap()).unwrap();
        let text = serde_json::to_string_pretty(&all).unwrap() + "\n";
        std::fs::write(&self.path, text).unwrap();
    }
}
