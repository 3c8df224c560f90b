//! A compact linear spam classifier shared by the `classifier` plugin (which scores with it)
//! and `chowk train` (which fits it): hashed word, word-pair, character n-gram and shape
//! features of the normalised text ([`features`]), a weight per hash bucket ([`Model`]), and two
//! ways to fit the weights ([`train`]: logistic regression or multinomial naive Bayes). The model
//! is data, not code: [`Model::to_bytes`] and [`Model::from_bytes`] are its file format.

mod corpus;
mod features;
mod model;
mod train;

pub use corpus::{parse_tsv, CorpusError, Half, Labelled};
pub use features::{features, Feature, FeatureSet};
pub use model::{Contribution, Model, ModelError, Score, FEATURE_SET};
pub use train::{
    compare, evaluate, train, Algorithm, Comparison, Confusion, Example, Paired, TrainOptions,
};
