//! Known blocking fingerprints (placeholder until the fingerprint set lands).

/// The set of fingerprints the analysis matches against.
#[derive(Clone, Debug, Default)]
pub struct Fingerprints {}

impl Fingerprints {
    /// The set shipped with vantage.
    pub fn builtin() -> Fingerprints {
        Fingerprints {}
    }
}
