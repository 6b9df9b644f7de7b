//! GitHub App JWTs: checking the bearer tokens an app sends, and making app keys for tests.

use serde_json::Value;

/// An RSA key pair for a test GitHub App.
#[derive(Clone, Debug)]
pub struct AppKey {
    /// PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), what GitHub hands out and
    /// `Octocrab::builder().app_from_rsa_pem` reads.
    pub private_pem: String,
    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`), for [`super::GitHubOptions::app_public_key_pem`].
    pub public_pem: String,
}

/// Generates an RSA key pair (`bits`: 2048 like GitHub; 1024 is much faster in debug builds).
pub fn generate_app_key(bits: usize) -> Result<AppKey, String> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePublicKey;
    let mut rng = rsa::rand_core::OsRng;
    let key = rsa::RsaPrivateKey::new(&mut rng, bits).map_err(|e| e.to_string())?;
    let private_pem = key
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .map_err(|e| e.to_string())?
        .to_string();
    let public_pem = key
        .to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| e.to_string())?;
    Ok(AppKey {
        private_pem,
        public_pem,
    })
}

/// Why a JWT was refused (GitHub answers 401 with this message).
pub(crate) type JwtError = &'static str;

/// Checks an app JWT: three base64url parts, RS256, `iss` equal to `app_id` (number or
/// string), `exp` in the future and at most 10 minutes ahead, and the signature when a public
/// key is configured.
pub(crate) fn check_jwt(
    token: &str,
    app_id: u64,
    public_key_pem: Option<&str>,
) -> Result<(), JwtError> {
    const UNDECODABLE: &str = "A JSON web token could not be decoded";
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, _signature] = parts.as_slice() else {
        return Err(UNDECODABLE);
    };
    let header: Value = base64url_json(header).ok_or(UNDECODABLE)?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(UNDECODABLE);
    }
    let claims: Value = base64url_json(payload).ok_or(UNDECODABLE)?;
    let iss = match claims.get("iss") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => return Err("'Issuer' claim ('iss') must be an Integer"),
    };
    if iss != app_id.to_string() {
        return Err(UNDECODABLE);
    }
    let now = chrono::Utc::now().timestamp();
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")?;
    if exp <= now {
        return Err("'Expiration time' claim ('exp') is too far in the past");
    }
    if exp > now + 600 + 30 {
        return Err("'Expiration time' claim ('exp') is too far in the future");
    }
    if let Some(pem) = public_key_pem {
        let key =
            jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| UNDECODABLE)?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|_| UNDECODABLE)?;
    }
    Ok(())
}

/// Whether a token looks like a JWT (three dot-separated parts, a JSON header).
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(h), Some(_), Some(_), None) if base64url_json(h).is_some()
    )
}

fn base64url_json(part: &str) -> Option<Value> {
    serde_json::from_slice(&base64url_decode(part)?).ok()
}

fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for c in input.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => continue,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}
