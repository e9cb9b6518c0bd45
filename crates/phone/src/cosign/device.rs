//! The phone's device key: binds every PIN attempt to the phone the certificate was issued to.
//!
//! `phone init` makes one P-256 key per phone (kept in the phone keystore; on a real phone it
//! would live in the hardware keystore and never leave it) and registers its public key with
//! the co-signing service for each of the phone's certificates. Every `authorise` and
//! `reset-pin` call carries
//!
//! ```text
//! X-Bidseal-Device-Time:      Unix seconds (must be within ±CLOCK_SKEW_SECS of the service)
//! X-Bidseal-Device-Nonce:     32 hex digits, random per call (the service accepts each once)
//! X-Bidseal-Device-Signature: hex DER ECDSA-P256/SHA-256 over
//!     "bidseal/cosign/device/v1\n" route "\n" cert_id "\n" time "\n" nonce "\n"
//!     hex(SHA-256(body))
//! ```
//!
//! where `route` is `authorise`, `reset-pin`, `split-sign`, `split-sign/round`,
//! `split-sign/finish`, `split-ecdh`, `split-refresh`, `split-refresh/round` or
//! `split-refresh/finish` (the last three signed by the NEW phone's key, named in the
//! `split-refresh` body), `enrol`, `enrol/round`, `enrol/csr`, `enrol/csr-finish` or
//! `enrol/certificate` (开通, signed by the enrolling phone's key named in the `enrol` body)
//! and `body` the exact request bytes (which hold
//! the operation and the scan session id). The service verifies this before it parses the body
//! or looks at the PIN; a call that fails it is refused as `device_not_recognised`, is not
//! logged and does not count towards the PIN lockout.
//!
//! Guarantees: the private key is zeroized on drop and never printed. Does not: attest that
//! the key is hardware-backed, or revoke a lost phone (the administrator disables the
//! certificate).

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Header with the signing time.
pub const TIME_HEADER: &str = "x-bidseal-device-time";
/// Header with the per-call nonce.
pub const NONCE_HEADER: &str = "x-bidseal-device-nonce";
/// Header with the signature.
pub const SIGNATURE_HEADER: &str = "x-bidseal-device-signature";
/// Largest accepted difference between the phone's and the service's clock.
pub const CLOCK_SKEW_SECS: i64 = 120;

/// Route names that are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRoute {
    /// `POST /v1/certs/{id}/authorise`.
    Authorise,
    /// `POST /v1/certs/{id}/reset-pin`.
    ResetPin,
    /// `POST /v1/certs/{id}/split-sign` (grant of a joint signature, with the PIN).
    SplitSign,
    /// `POST /v1/certs/{id}/split-sign/round` (first protocol round).
    SplitSignRound,
    /// `POST /v1/certs/{id}/split-sign/finish` (second protocol round).
    SplitSignFinish,
    /// `POST /v1/certs/{id}/split-ecdh` (the service's ECDH part, with the PIN).
    SplitEcdh,
    /// `POST /v1/certs/{id}/split-refresh` (换机: code + PIN, signed by the NEW device key).
    SplitRefresh,
    /// `POST /v1/certs/{id}/split-refresh/round` (the refresh's first message).
    SplitRefreshRound,
    /// `POST /v1/certs/{id}/split-refresh/finish` (the refresh's last message).
    SplitRefreshFinish,
    /// `POST /v1/certs/{id}/enrol` (开通: enrolment code, signed by the phone's device key
    /// named in the body).
    Enrol,
    /// `POST /v1/certs/{id}/enrol/round` (the DKG's first message).
    EnrolRound,
    /// `POST /v1/certs/{id}/enrol/csr` (the DKG's last message + the CSR's first signing round).
    EnrolCsr,
    /// `POST /v1/certs/{id}/enrol/csr-finish` (the CSR's last signing round).
    EnrolCsrFinish,
    /// `POST /v1/certs/{id}/enrol/certificate` (the issued certificate + the PIN).
    EnrolCertificate,
}

impl DeviceRoute {
    /// The route's path after `/v1/certs/{id}/` (also what is signed).
    pub fn name(self) -> &'static str {
        match self {
            Self::Authorise => "authorise",
            Self::ResetPin => "reset-pin",
            Self::SplitSign => "split-sign",
            Self::SplitSignRound => "split-sign/round",
            Self::SplitSignFinish => "split-sign/finish",
            Self::SplitEcdh => "split-ecdh",
            Self::SplitRefresh => "split-refresh",
            Self::SplitRefreshRound => "split-refresh/round",
            Self::SplitRefreshFinish => "split-refresh/finish",
            Self::Enrol => "enrol",
            Self::EnrolRound => "enrol/round",
            Self::EnrolCsr => "enrol/csr",
            Self::EnrolCsrFinish => "enrol/csr-finish",
            Self::EnrolCertificate => "enrol/certificate",
        }
    }
}

/// The bytes the device signs.
pub fn signed_message(
    route: DeviceRoute,
    cert_id: &str,
    time: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    format!(
        "bidseal/cosign/device/v1\n{}\n{}\n{}\n{}\n{}",
        route.name(),
        cert_id,
        time,
        nonce,
        hex::encode(Sha256::digest(body))
    )
    .into_bytes()
}

/// The headers of one signed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCall {
    /// [`TIME_HEADER`].
    pub time: String,
    /// [`NONCE_HEADER`].
    pub nonce: String,
    /// [`SIGNATURE_HEADER`].
    pub signature: String,
}

impl SignedCall {
    /// (name, value) pairs to send.
    pub fn headers(&self) -> [(&'static str, &str); 3] {
        [
            (TIME_HEADER, self.time.as_str()),
            (NONCE_HEADER, self.nonce.as_str()),
            (SIGNATURE_HEADER, self.signature.as_str()),
        ]
    }
}

/// The phone's private device key. Serialised (in the keystore) as hex of the scalar.
#[derive(Clone)]
pub struct DeviceKey(SigningKey);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey(public {})", self.public_hex())
    }
}

impl DeviceKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(SigningKey::random(&mut OsRng))
    }

    /// The public key as hex of the compressed SEC1 point (what the service stores).
    pub fn public_hex(&self) -> String {
        hex::encode(
            VerifyingKey::from(&self.0)
                .to_encoded_point(true)
                .as_bytes(),
        )
    }

    /// Signs one call with a fresh nonce.
    pub fn sign_call(
        &self,
        route: DeviceRoute,
        cert_id: &str,
        time: i64,
        body: &[u8],
    ) -> SignedCall {
        let mut n = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut OsRng, &mut n);
        let nonce = hex::encode(n);
        let sig: DerSignature = self
            .0
            .sign(&signed_message(route, cert_id, time, &nonce, body));
        SignedCall {
            time: time.to_string(),
            nonce,
            signature: hex::encode(sig.as_bytes()),
        }
    }
}

impl Serialize for DeviceKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex = Zeroizing::new(hex::encode(self.0.to_bytes()));
        s.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for DeviceKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = Zeroizing::new(hex::decode(text.as_str()).map_err(serde::de::Error::custom)?);
        SigningKey::from_slice(&bytes)
            .map(Self)
            .map_err(|_| serde::de::Error::custom("设备密钥无效"))
    }
}

/// Verifies a call against the registered public key (hex SEC1). `now` is the service clock.
/// Returns false for anything malformed (a nonce must be 32 hex digits), a time more than
/// [`CLOCK_SKEW_SECS`] away, or a wrong signature. Replays are the caller's to refuse (by
/// nonce).
pub fn verify_call(
    public_hex: &str,
    route: DeviceRoute,
    cert_id: &str,
    call: &SignedCall,
    body: &[u8],
    now: i64,
) -> bool {
    let Ok(time) = call.time.trim().parse::<i64>() else {
        return false;
    };
    if now.abs_diff(time) > CLOCK_SKEW_SECS as u64 {
        return false;
    }
    if call.nonce.len() != 32 || !call.nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let (Ok(public), Ok(sig)) = (hex::decode(public_hex), hex::decode(call.signature.trim()))
    else {
        return false;
    };
    let (Ok(key), Ok(sig)) = (
        VerifyingKey::from_sec1_bytes(&public),
        Signature::from_der(&sig),
    ) else {
        return false;
    };
    key.verify(
        &signed_message(route, cert_id, time, &call.nonce, body),
        &sig,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_verifies_only_for_its_key_route_cert_time_nonce_and_body() {
        let key = DeviceKey::generate();
        let other = DeviceKey::generate();
        let body = br#"{"pin":"123456"}"#;
        let call = key.sign_call(DeviceRoute::Authorise, "c", 1000, body);
        let pk = key.public_hex();
        let ok = |pk: &str, route, cert: &str, call: &SignedCall, body: &[u8], now| {
            verify_call(pk, route, cert, call, body, now)
        };
        assert!(ok(&pk, DeviceRoute::Authorise, "c", &call, body, 1000));
        assert!(ok(
            &pk,
            DeviceRoute::Authorise,
            "c",
            &call,
            body,
            1000 + CLOCK_SKEW_SECS
        ));
        assert!(ok(
            &pk,
            DeviceRoute::Authorise,
            "c",
            &call,
            body,
            1000 - CLOCK_SKEW_SECS
        ));
        // Stale / future, other key, other route, other certificate, other body.
        assert!(!ok(
            &pk,
            DeviceRoute::Authorise,
            "c",
            &call,
            body,
            1001 + CLOCK_SKEW_SECS
        ));
        assert!(!ok(
            &pk,
            DeviceRoute::Authorise,
            "c",
            &call,
            body,
            999 - CLOCK_SKEW_SECS
        ));
        assert!(!ok(
            &other.public_hex(),
            DeviceRoute::Authorise,
            "c",
            &call,
            body,
            1000
        ));
        assert!(!ok(&pk, DeviceRoute::ResetPin, "c", &call, body, 1000));
        assert!(!ok(&pk, DeviceRoute::Authorise, "d", &call, body, 1000));
        assert!(!ok(
            &pk,
            DeviceRoute::Authorise,
            "c",
            &call,
            br#"{"pin":"123457"}"#,
            1000
        ));
        // Any header changed: time, nonce, signature; garbage key.
        let mut c = call.clone();
        c.time = "1001".into();
        assert!(!ok(&pk, DeviceRoute::Authorise, "c", &c, body, 1000));
        let mut c = call.clone();
        c.nonce = "0".repeat(32);
        assert!(!ok(&pk, DeviceRoute::Authorise, "c", &c, body, 1000));
        let mut c = call.clone();
        c.signature = "zz".into();
        assert!(!ok(&pk, DeviceRoute::Authorise, "c", &c, body, 1000));
        assert!(!ok("00", DeviceRoute::Authorise, "c", &call, body, 1000));
        // Two calls with the same body and time still differ (fresh nonce).
        assert_ne!(
            call.nonce,
            key.sign_call(DeviceRoute::Authorise, "c", 1000, body).nonce
        );
        // The key survives a keystore round trip and is not printed.
        let json = serde_json::to_string(&key).unwrap();
        let back: DeviceKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back.public_hex(), pk);
        assert!(!format!("{key:?}").contains(json.trim_matches('"')));
    }
}
