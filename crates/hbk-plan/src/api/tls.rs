//! TLS trust for the Proxmox APIs: a CA file, or a pin on the SHA-256
//! fingerprint of the server's certificate (Proxmox's own convention,
//! `AA:BB:…`), checked by a custom rustls verifier that ignores names and
//! issuers but still checks the handshake signatures.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Parses `AA:BB:…` (32 pairs; `:` optional, any case) into bytes.
pub fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    let hex_digits: String = s.chars().filter(|&c| c != ':').collect();
    let bytes = hex::decode(hex_digits.trim()).ok()?;
    bytes.try_into().ok()
}

/// Formats a SHA-256 as Proxmox shows fingerprints (`aa:bb:…`).
pub fn format_fingerprint(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Accepts exactly the certificate whose DER has the pinned SHA-256.
#[derive(Debug)]
struct PinVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate fingerprint {} does not match the pinned one",
                format_fingerprint(&got)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A rustls client configuration that trusts only the pinned certificate.
pub fn pinned_config(fingerprint: &str) -> Result<rustls::ClientConfig> {
    let pin = parse_fingerprint(fingerprint)
        .ok_or_else(|| Error::Tls(format!("bad fingerprint {fingerprint:?}")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = PinVerifier {
        pin,
        provider: provider.clone(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_both_ways() {
        let bytes: Vec<u8> = (0u8..32).collect();
        let s = format_fingerprint(&bytes);
        assert_eq!(parse_fingerprint(&s).unwrap().to_vec(), bytes);
        assert_eq!(
            parse_fingerprint(&s.to_uppercase()).unwrap().to_vec(),
            bytes
        );
        assert!(parse_fingerprint("aa:bb").is_none());
        assert!(parse_fingerprint("zz").is_none());
    }
}
