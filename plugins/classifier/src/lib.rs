//! `classifier`: a learned spam model. The model is an asset, not code: `plugins.toml` names
//! the file (`assets = { model = "models/sme.bin" }`), `chowk train` writes it from labelled
//! corpora and moderators' decisions, and a new file reloads the chain without rebuilding this
//! plugin. A message's log-odds of spam become points for the chain's thresholds, and the
//! hit's detail names the features that pushed hardest, so moderators see why.

use chowk_sdk::classifier::Model;
use chowk_sdk::{export_plugin, Hit, Host, Message, Plugin, Verdict};
use serde::Deserialize;

/// Configuration (`[plugins.config]`). Points are `offset + per_logit × log-odds of spam`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The asset holding the model.
    pub asset: String,
    /// Points per unit of log-odds.
    pub per_logit: f64,
    /// Points at even odds (log-odds 0).
    pub offset: f64,
    /// Hits smaller than this (in absolute points) are not reported.
    pub min_points: f64,
    /// Most points one message can get.
    pub max_points: f64,
    /// Report negative points for confident ham, vouching for it against other rules.
    pub vouch: bool,
    /// Most points a vouch can take away, so strong evidence from other plugins still counts.
    pub max_vouch: f64,
    /// Features named in the hit's detail.
    pub top: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            asset: "model".into(),
            per_logit: 1.0,
            offset: 0.0,
            min_points: 0.5,
            max_points: 10.0,
            vouch: false,
            max_vouch: 2.0,
            top: 4,
        }
    }
}

/// The classifier plugin.
pub struct Classifier {
    model: Model,
    config: Config,
}

impl Plugin for Classifier {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if !(config.per_logit.is_finite() && config.per_logit > 0.0) {
            return Err(format!(
                "per_logit must be positive, got {}",
                config.per_logit
            ));
        }
        let bytes = chowk_sdk::assets::read(&config.asset).ok_or_else(|| {
            format!(
                "no asset {:?}: name the model file in plugins.toml, assets = {{ {} = \"models/sme.bin\" }}",
                config.asset, config.asset
            )
        })?;
        let model =
            Model::from_bytes(&bytes).map_err(|e| format!("asset {:?}: {e}", config.asset))?;
        Ok(Classifier { model, config })
    }

    fn check(&self, message: &Message, _host: &Host<'_>) -> Verdict {
        let c = &self.config;
        let score = self.model.score(&message.text, c.top);
        let points = (c.offset + c.per_logit * f64::from(score.logit))
            .clamp(-c.max_vouch.min(c.max_points), c.max_points);
        if points < c.min_points && !(c.vouch && points <= -c.min_points) {
            return Verdict::Allow;
        }
        let features: Vec<&str> = score.top.iter().map(|t| t.feature.as_str()).collect();
        let detail = format!(
            "p(spam) = {:.2}; strongest: {}",
            score.probability,
            if features.is_empty() {
                "-".into()
            } else {
                features.join(", ")
            }
        );
        Verdict::Score(vec![Hit::new(
            "classifier",
            (points * 100.0).round() / 100.0,
            detail,
        )])
    }
}

export_plugin!(Classifier);

#[cfg(test)]
mod tests {
    use chowk_sdk::classifier::{train, Example, TrainOptions};
    use chowk_sdk::testing::TestPlugin;
    use serde_json::json;

    use super::*;

    fn model() -> Vec<u8> {
        let spam = [
            "win a free prize click bit.ly/x",
            "kyc update account blocked sbi-kyc.xyz",
            "part time job earn 5000 daily",
        ];
        let ham = [
            "rice rate kya hai",
            "payment done send invoice",
            "shop closed for diwali",
        ];
        let examples: Vec<Example> = spam
            .iter()
            .map(|t| (t, true))
            .chain(ham.iter().map(|t| (t, false)))
            .map(|(t, spam)| Example {
                text: (*t).to_owned(),
                spam,
            })
            .collect();
        let options = TrainOptions {
            bits: 12,
            ..TrainOptions::default()
        };
        train(&examples, &options).expect("train").to_bytes()
    }

    fn plugin(config: serde_json::Value) -> TestPlugin<Classifier> {
        TestPlugin::with_assets(config, [("model".to_owned(), model())]).expect("init")
    }

    #[test]
    fn spam_scores_with_its_reasons_and_ham_passes() {
        let p = plugin(json!({"per_logit": 2.0}));
        match p.check_text("claim your free prize now bit.ly/y") {
            Verdict::Score(hits) => {
                assert_eq!(hits[0].rule, "classifier");
                assert!(hits[0].points > 0.5, "{hits:?}");
                assert!(hits[0].detail.contains("strongest: "), "{hits:?}");
            }
            other => panic!("expected a score, got {other:?}"),
        }
        assert_eq!(p.check_text("payment done, invoice bhejo"), Verdict::Allow);
    }

    #[test]
    fn vouching_gives_negative_points_to_confident_ham_up_to_max_vouch() {
        let p = plugin(json!({"per_logit": 4.0, "vouch": true, "max_vouch": 100.0}));
        let free = match p.check_text("payment done send invoice") {
            Verdict::Score(hits) => hits[0].points,
            other => panic!("expected a vouch, got {other:?}"),
        };
        assert!(free < -1.0, "{free}");
        let p = plugin(json!({"per_logit": 4.0, "vouch": true, "max_vouch": 1.0}));
        match p.check_text("payment done send invoice") {
            Verdict::Score(hits) => assert_eq!(hits[0].points, -1.0, "{hits:?}"),
            other => panic!("expected a vouch, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_or_damaged_model_refuses_the_plugin_naming_the_asset() {
        let err = TestPlugin::<Classifier>::new(json!({})).expect_err("no asset");
        assert!(err.contains("no asset \"model\""), "{err}");
        let err = TestPlugin::<Classifier>::with_assets(
            json!({}),
            [("model".to_owned(), b"junk".to_vec())],
        )
        .expect_err("bad model");
        assert!(err.contains("asset \"model\": invalid model"), "{err}");
        // A model trained on the features of an older SDK would score wrongly: it is refused.
        let mut old = model();
        old[12] &= !2;
        let err = TestPlugin::<Classifier>::with_assets(json!({}), [("model".to_owned(), old)])
            .expect_err("old features");
        assert!(err.contains("feature set 1"), "{err}");
    }
}
