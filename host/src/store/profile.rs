//! Business profiles: the user's shop window (names, city, phone, products with prices in
//! paise), with validation that names the offending field.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// Most products on one profile.
pub const MAX_PRODUCTS: usize = 50;

/// A stored profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Profile {
    /// User id.
    pub user: String,
    /// Name shown in chat.
    pub display_name: String,
    /// Business name.
    pub business_name: String,
    /// Trade category, e.g. "textiles".
    pub category: String,
    /// City.
    pub city: String,
    /// Contact phone, digits with an optional leading `+`.
    pub phone: String,
    /// Free text about the business.
    pub about: String,
    /// Products on show.
    pub products: Vec<Product>,
    /// Last update, ms since the epoch.
    pub updated_at_ms: u64,
}

/// One product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Product name.
    pub name: String,
    /// Price in paise (₹1 = 100 paise); never negative.
    pub price_paise: i64,
    /// Unit, e.g. "kg", "dozen", "piece".
    #[serde(default)]
    pub unit: String,
    /// Optional picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// A partial update: every field present replaces the stored one. A full replacement (PUT) is
/// a patch with every field set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// Name shown in chat.
    pub display_name: Option<String>,
    /// Business name.
    pub business_name: Option<String>,
    /// Trade category.
    pub category: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Contact phone.
    pub phone: Option<String>,
    /// About text.
    pub about: Option<String>,
    /// Products (replaces the whole list).
    pub products: Option<Vec<Product>>,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), StoreError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(invalid(
            field,
            format!("must be {min} to {max} characters, got {n}"),
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

impl Profile {
    /// Apply a patch on top of this profile and validate the result.
    pub fn apply(mut self, patch: ProfilePatch) -> Result<Profile, StoreError> {
        let ProfilePatch {
            display_name,
            business_name,
            category,
            city,
            phone,
            about,
            products,
        } = patch;
        let set = |slot: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *slot = v.trim().to_owned();
            }
        };
        set(&mut self.display_name, display_name);
        set(&mut self.business_name, business_name);
        set(&mut self.category, category);
        set(&mut self.city, city);
        set(&mut self.about, about);
        if let Some(phone) = phone {
            self.phone = phone
                .chars()
                .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
                .collect();
        }
        if let Some(products) = products {
            self.products = products;
        }
        self.validate()?;
        Ok(self)
    }

    /// Check every field.
    pub fn validate(&self) -> Result<(), StoreError> {
        check_len("display_name", &self.display_name, 1, 80)?;
        check_len("business_name", &self.business_name, 0, 120)?;
        check_len("category", &self.category, 0, 60)?;
        check_len("city", &self.city, 0, 60)?;
        check_len("about", &self.about, 0, 1000)?;
        if !self.phone.is_empty() {
            let digits = self.phone.strip_prefix('+').unwrap_or(&self.phone);
            if !(10..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    "phone",
                    format!(
                        "{:?} is not a phone number: 10 to 15 digits, optionally starting with +",
                        self.phone
                    ),
                ));
            }
        }
        if self.products.len() > MAX_PRODUCTS {
            return Err(invalid(
                "products",
                format!("at most {MAX_PRODUCTS}, got {}", self.products.len()),
            ));
        }
        for (i, p) in self.products.iter().enumerate() {
            let field = |f: &str| format!("products[{i}].{f}");
            check_len(&field("name"), &p.name, 1, 120)?;
            check_len(&field("unit"), &p.unit, 0, 30)?;
            if p.price_paise < 0 {
                return Err(invalid(
                    field("price_paise"),
                    format!("must not be negative, got {}", p.price_paise),
                ));
            }
            if let Some(url) = &p.image_url {
                let ok =
                    (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 500;
                if !ok {
                    return Err(invalid(
                        field("image_url"),
                        "must be an http(s) URL of at most 500 characters",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Profile {
        Profile {
            user: "asha".into(),
            display_name: "Asha".into(),
            ..Profile::default()
        }
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let p = base()
            .apply(ProfilePatch {
                city: Some(" Pune ".into()),
                phone: Some("+91 98200-12345".into()),
                ..ProfilePatch::default()
            })
            .expect("valid");
        assert_eq!(
            (p.display_name.as_str(), p.city.as_str(), p.phone.as_str()),
            ("Asha", "Pune", "+919820012345")
        );
    }

    #[test]
    fn invalid_fields_are_named() {
        let err = |patch: ProfilePatch| base().apply(patch).expect_err("invalid").to_string();
        assert!(err(ProfilePatch {
            display_name: Some("".into()),
            ..Default::default()
        })
        .contains("display_name"));
        assert!(err(ProfilePatch {
            phone: Some("12ab".into()),
            ..Default::default()
        })
        .contains("phone"));
        let product = Product {
            name: "Rice".into(),
            price_paise: -1,
            unit: "kg".into(),
            image_url: None,
        };
        let e = err(ProfilePatch {
            products: Some(vec![product]),
            ..Default::default()
        });
        assert!(
            e.contains("products[0].price_paise") && e.contains("negative"),
            "{e}"
        );
    }
}
