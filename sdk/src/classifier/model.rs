//! The model: a bias and one weight per hash bucket; the probability that a message is spam is
//! the logistic of the bias plus the weights of its features (each scaled by one over the
//! square root of the feature count, so long texts do not win by length). The file stores only
//! the non-zero weights.

use super::features::{Feature, FeatureSet};

/// File magic and format version.
const MAGIC: &[u8; 8] = b"CHOWKLM1";
/// Smallest and largest table sizes, as bits of the bucket index.
const BITS: std::ops::RangeInclusive<u32> = 8..=22;

/// A trained linear model over hashed features.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    bits: u32,
    scaled: bool,
    bias: f32,
    weights: Vec<f32>,
}

/// The feature set [`super::features`] computes. A model remembers the feature set it was
/// trained on; scoring it with other features would give wrong scores silently, so a model of
/// another feature set is refused. Set 1: character n-grams of bare words (models written
/// before 2026-11-28, flag bit 1 clear); set 2: of whitespace tokens as written (bit 1 set).
pub const FEATURE_SET: u32 = 2;
/// Flag bits of the file: per-count scaling, and feature set 2.
const FLAG_SCALED: u32 = 1;
const FLAG_FEATURES_2: u32 = 2;

/// Why model bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// Not a valid model file, or impossible settings.
    Invalid(String),
    /// A valid model of a feature set this code no longer computes: retrain it.
    OtherFeatures {
        /// The feature set the model was trained on.
        trained_on: u32,
    },
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::Invalid(m) => write!(f, "invalid model: {m}"),
            ModelError::OtherFeatures { trained_on } => write!(
                f,
                "the model was trained on feature set {trained_on}, this code computes feature \
                 set {FEATURE_SET}: retrain it with `chowk train`"
            ),
        }
    }
}

impl std::error::Error for ModelError {}

/// One feature's share of a score.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The feature's readable name.
    pub feature: String,
    /// What it added to the log-odds.
    pub weight: f32,
}

/// A message's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Log-odds of spam.
    pub logit: f32,
    /// Probability of spam.
    pub probability: f32,
    /// The features that pushed hardest towards spam, strongest first.
    pub top: Vec<Contribution>,
}

impl Model {
    /// An all-zero model with `2^bits` buckets.
    pub fn zeros(bits: u32) -> Result<Model, ModelError> {
        if !BITS.contains(&bits) {
            return Err(ModelError::Invalid(format!(
                "bits must be {}..={}, got {bits}",
                BITS.start(),
                BITS.end()
            )));
        }
        Ok(Model {
            bits,
            scaled: true,
            bias: 0.0,
            weights: vec![0.0; 1 << bits],
        })
    }

    /// Bits of the bucket index.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The bucket of a feature.
    pub fn bucket(&self, feature: &Feature) -> usize {
        self.bucket_of(feature.hash)
    }

    /// The bucket of a feature hash.
    fn bucket_of(&self, hash: u32) -> usize {
        (hash & ((1u32 << self.bits) - 1)) as usize
    }

    pub(super) fn weights_mut(&mut self) -> (&mut f32, &mut [f32]) {
        (&mut self.bias, &mut self.weights)
    }

    /// Whether feature weights are scaled by one over the square root of the feature count
    /// (logistic models), or summed as they are (naive Bayes log-likelihood ratios).
    pub(super) fn set_scaled(&mut self, scaled: bool) {
        self.scaled = scaled;
    }

    fn scale(&self, n: usize) -> f32 {
        if self.scaled {
            scale(n)
        } else {
            1.0
        }
    }

    /// The log-odds of spam of a feature list.
    pub fn logit_of(&self, features: &[Feature]) -> f32 {
        let scale = self.scale(features.len());
        self.bias
            + features
                .iter()
                .map(|f| self.weights[self.bucket(f)] * scale)
                .sum::<f32>()
    }

    /// Score a text, with its `top` strongest spam features.
    pub fn score(&self, text: &str, top: usize) -> Score {
        let features = FeatureSet::of(text);
        let scale = self.scale(features.len());
        let weights: Vec<f32> = features
            .hashes()
            .map(|hash| self.weights[self.bucket_of(hash)] * scale)
            .collect();
        let logit = self.bias + weights.iter().sum::<f32>();
        // The strongest spam features, in first-seen order among equals; only these names
        // are copied. `top` is small: one pass, inserting into a short sorted list.
        let mut strongest: Vec<usize> = Vec::with_capacity(top + 1);
        for (i, &w) in weights.iter().enumerate() {
            if w <= 0.0 {
                continue;
            }
            let at = strongest.partition_point(|&s| weights[s] >= w);
            if at < top {
                strongest.insert(at, i);
                strongest.truncate(top);
            }
        }
        Score {
            logit,
            probability: sigmoid(logit),
            top: strongest
                .into_iter()
                .map(|i| Contribution {
                    feature: features.name(i).to_owned(),
                    weight: weights[i],
                })
                .collect(),
        }
    }

    /// Non-zero weights.
    pub fn non_zero(&self) -> usize {
        self.weights.iter().filter(|w| **w != 0.0).count()
    }

    /// The file format: magic, bits, flags (bit 0: scaled, bit 1: feature set 2), bias, count of non-zero weights, then (index, weight)
    /// pairs, all little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.non_zero() * 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.bits.to_le_bytes());
        let flags = FLAG_FEATURES_2 | if self.scaled { FLAG_SCALED } else { 0 };
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&self.bias.to_le_bytes());
        out.extend_from_slice(&(self.non_zero() as u32).to_le_bytes());
        for (i, w) in self.weights.iter().enumerate() {
            if *w != 0.0 {
                out.extend_from_slice(&(i as u32).to_le_bytes());
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        out
    }

    /// Read the file format of [`Model::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| ModelError::Invalid("not a Chowk model file (bad magic)".into()))?;
        let mut words = rest.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
        let mut next = |what: &str| {
            words
                .next()
                .ok_or_else(|| ModelError::Invalid(format!("truncated at {what}")))
        };
        let bits = u32::from_le_bytes(next("bits")?);
        let mut model = Model::zeros(bits)?;
        let flags = u32::from_le_bytes(next("flags")?);
        if flags & !(FLAG_SCALED | FLAG_FEATURES_2) != 0 {
            return Err(ModelError::Invalid(format!("unknown flags {flags:#x}")));
        }
        if flags & FLAG_FEATURES_2 == 0 {
            return Err(ModelError::OtherFeatures { trained_on: 1 });
        }
        model.scaled = flags & FLAG_SCALED != 0;
        model.bias = f32::from_le_bytes(next("bias")?);
        let count = u32::from_le_bytes(next("count")?) as usize;
        if rest.len() != 16 + count * 8 {
            return Err(ModelError::Invalid(format!(
                "{count} weights need {} bytes, the file has {}",
                24 + count * 8,
                bytes.len()
            )));
        }
        for _ in 0..count {
            let index = u32::from_le_bytes(next("index")?) as usize;
            let weight = f32::from_le_bytes(next("weight")?);
            let slot = model
                .weights
                .get_mut(index)
                .ok_or_else(|| ModelError::Invalid(format!("index {index} outside 2^{bits}")))?;
            if !weight.is_finite() {
                return Err(ModelError::Invalid(format!("weight {index} is not finite")));
            }
            *slot = weight;
        }
        if !model.bias.is_finite() {
            return Err(ModelError::Invalid("bias is not finite".into()));
        }
        Ok(model)
    }
}

/// How much each feature counts in a message with `n` features.
pub(super) fn scale(n: usize) -> f32 {
    1.0 / (n.max(1) as f32).sqrt()
}

/// The logistic function.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::super::features::features;
    use super::*;

    #[test]
    fn the_strongest_features_are_the_first_of_a_stable_sort() {
        let model = Model::from_bytes(include_bytes!("../../../models/sme.bin")).expect("model");
        let corpus = include_str!("../../../corpus/sme/heldout.tsv");
        for text in corpus
            .lines()
            .skip(1)
            .filter_map(|l| l.splitn(4, '\t').nth(3))
        {
            let features = features(text);
            let scale = model.scale(features.len());
            let weights: Vec<f32> = features
                .iter()
                .map(|f| model.weights[model.bucket(f)] * scale)
                .collect();
            let mut sorted: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0.0).collect();
            sorted.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]));
            let expected: Vec<&str> = sorted
                .iter()
                .take(4)
                .map(|&i| features[i].name.as_str())
                .collect();
            let score = model.score(text, 4);
            let got: Vec<&str> = score.top.iter().map(|c| c.feature.as_str()).collect();
            assert_eq!(got, expected, "{text:?}");
            assert!(
                (score.logit - model.logit_of(&features)).abs() < 1e-4,
                "{text:?}"
            );
        }
    }

    #[test]
    fn file_format_round_trips_and_refuses_damage() {
        let mut m = Model::zeros(10).expect("bits");
        m.bias = -1.5;
        m.weights[3] = 0.25;
        m.weights[1000] = -2.0;
        let bytes = m.to_bytes();
        assert_eq!(Model::from_bytes(&bytes), Ok(m));
        assert!(Model::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(Model::from_bytes(b"garbage").is_err());
        let mut bad = bytes.clone();
        bad[8] = 40; // bits
        assert!(Model::from_bytes(&bad).is_err());
        let mut old = bytes.clone();
        old[12] &= !(FLAG_FEATURES_2 as u8); // a model of feature set 1
        assert_eq!(
            Model::from_bytes(&old),
            Err(ModelError::OtherFeatures { trained_on: 1 })
        );
    }
}
