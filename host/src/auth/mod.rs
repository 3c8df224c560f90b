//! Who is calling: bearer JWTs signed with HS256 carrying the user id (`sub`) and a [`Role`].
//! [`Authority`] mints them (`chowk token`) and verifies them (every API request); the HTTP
//! extractor lives in `http::extract`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// Shortest accepted secret: 256 bits, as RFC 7518 asks for HS256.
pub const MIN_SECRET_BYTES: usize = 32;

/// The placeholder `chowk.example.toml` shows; a secret containing it is refused, since anyone
/// who read the example could mint tokens.
pub const PLACEHOLDER_SECRET: &str = "change-me";

/// What a token lets its holder do. Ordered: an admin is also a moderator and a member.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and posts (in members-only rooms: where they are a member).
    Member,
    /// Also moderates every room.
    Moderator,
    /// Also creates rooms, manages members and runs the admin endpoints.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Role::Member),
            "moderator" => Ok(Role::Moderator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: use member, moderator or admin"
            )),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User id (the token's `sub`); the sender of everything they post.
    pub user: UserId,
    /// Their role.
    pub role: Role,
    /// When the token stops being accepted (its `exp` plus the leeway), unix seconds. Live
    /// streams end then.
    pub valid_until: u64,
}

impl Identity {
    /// Whether the caller has at least `role`.
    pub fn has(&self, role: Role) -> bool {
        self.role >= role
    }

    /// How long from now the token stays valid (zero once it has expired).
    pub fn remaining(&self) -> Duration {
        Duration::from_secs(self.valid_until.saturating_sub(unix_now()))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    iat: u64,
    exp: u64,
}

/// Why a token was refused (HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token: send Authorization: Bearer <token>")]
    Missing,
    /// The token has expired.
    #[error("token expired")]
    Expired,
    /// Bad signature, wrong algorithm (`none` included), malformed, or bad claims.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Why an authority could not be built or a token minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The secret is too short.
    #[error("auth.jwt_secret must be at least {MIN_SECRET_BYTES} bytes, got {0}")]
    ShortSecret(usize),
    /// The secret is the documented placeholder.
    #[error("auth.jwt_secret is the placeholder from chowk.example.toml: anyone could mint tokens with it. Write a config with a random secret with `chowk init`, or set CHOWK_AUTH_JWT_SECRET")]
    PlaceholderSecret,
    /// The user id is not valid.
    #[error("{0}")]
    BadUser(String),
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// Mints and verifies tokens with one HS256 secret.
#[derive(Clone)]
pub struct Authority {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

impl Authority {
    /// An authority for `secret`, tolerating `leeway_s` of clock skew on expiry.
    pub fn new(secret: &[u8], leeway_s: u64) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::ShortSecret(secret.len()));
        }
        if secret
            .windows(PLACEHOLDER_SECRET.len())
            .any(|w| w == PLACEHOLDER_SECRET.as_bytes())
        {
            return Err(KeyError::PlaceholderSecret);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway_s;
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_nbf = true;
        Ok(Authority {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// A token for `user` with `role`, valid for `ttl`.
    pub fn mint(&self, user: &str, role: Role, ttl: Duration) -> Result<String, KeyError> {
        UserId::new(user).map_err(|e| KeyError::BadUser(e.to_string()))?;
        let now = unix_now();
        let claims = Claims {
            sub: user.to_owned(),
            role,
            iat: now,
            exp: now + ttl.as_secs().max(1),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// The caller a token names, if its signature, algorithm and expiry check out.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    AuthError::Invalid("only HS256 tokens are accepted".into())
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::Invalid(format!("the token has no `{claim}` claim"))
                }
                ErrorKind::ImmatureSignature => {
                    AuthError::Invalid("the token is not valid yet (`nbf` is in the future)".into())
                }
                // Base64, JSON, UTF-8 or a wrong number of parts: not a JWT at all. The
                // parser's own words (`expected value at line 1 column 1`) help nobody.
                _ => AuthError::Invalid(
                    "malformed token: expected a JWT (three base64url parts separated by dots)"
                        .into(),
                ),
            })?;
        let claims = data.claims;
        let user = UserId::new(claims.sub)
            .map_err(|e| AuthError::Invalid(e.for_field("sub").to_string()))?;
        Ok(Identity {
            user,
            role: claims.role,
            valid_until: claims.exp.saturating_add(self.validation.leeway),
        })
    }

    /// The identity behind an `Authorization` header value.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Identity, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| AuthError::Invalid("use the Bearer scheme".into()))?;
        self.verify(token.trim())
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Parse a lifetime such as `24h`, `30m`, `7d` or `90s`.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e} (examples: 24h, 30m, 7d)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn authority() -> Authority {
        Authority::new(SECRET, 0).expect("authority")
    }

    fn b64(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn round_trip() {
        let a = authority();
        let t = a
            .mint("asha", Role::Moderator, Duration::from_secs(60))
            .expect("mint");
        let id = a.verify(&t).expect("verify");
        assert_eq!(id.user, "asha");
        assert!(id.has(Role::Member) && id.has(Role::Moderator) && !id.has(Role::Admin));
    }

    #[test]
    fn forged_expired_and_none_are_refused() {
        let a = authority();
        let other = Authority::new(b"another-secret-another-secret-000", 0).expect("other");
        let forged = other
            .mint("asha", Role::Admin, Duration::from_secs(60))
            .expect("mint");
        assert!(matches!(a.verify(&forged), Err(AuthError::Invalid(_))));

        let exp = unix_now() - 120;
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "asha".into(),
                role: Role::Member,
                iat: exp - 60,
                exp,
            },
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode");
        assert_eq!(a.verify(&expired), Err(AuthError::Expired));

        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&format!(
                r#"{{"sub":"asha","role":"admin","iat":1,"exp":{}}}"#,
                unix_now() + 600
            ))
        );
        assert!(matches!(a.verify(&none), Err(AuthError::Invalid(_))));
        assert_eq!(a.verify_header(None), Err(AuthError::Missing));
        assert!(a.verify_header(Some("Basic abc")).is_err());
    }

    #[test]
    fn short_secrets_and_bad_users_are_refused() {
        assert_eq!(
            Authority::new(b"short", 0).err(),
            Some(KeyError::ShortSecret(5))
        );
        let example = include_str!("../../../chowk.example.toml");
        assert!(example.contains("change-me-to-32-or-more-random-bytes!!"));
        assert_eq!(
            Authority::new(b"change-me-to-32-or-more-random-bytes!!", 0).err(),
            Some(KeyError::PlaceholderSecret)
        );
        assert!(authority()
            .mint("bad user\n", Role::Member, Duration::from_secs(1))
            .is_err());
        assert_eq!(parse_ttl("24h"), Ok(Duration::from_secs(86_400)));
        assert!(parse_ttl("soon").is_err());
    }
}
