//! The unified social credit code (统一社会信用代码) of GB 32100-2015: 18 characters that
//! identify a Chinese legal entity, carried in test certificates in the subject's
//! `serialNumber` attribute (OID 2.5.4.5).
//!
//! Layout: registration authority (1) · organisation type (1) · administrative division (6) ·
//! organisation code (9, itself GB 11714 with its own check character) · check character (1).
//! The alphabet is `0-9A-Z` without `I O Z S V`; the 18th character is a weighted mod-31 check.
//!
//! Guarantees: [`UnifiedSocialCreditCode::parse`] accepts only well-formed codes whose both
//! check characters are right; [`UnifiedSocialCreditCode::from_body`] computes them. It does not
//! check that the administrative division exists or that the entity is registered.

use std::fmt;

/// The 31 characters allowed in a unified social credit code, in value order.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1..=17 for the mod-31 check character (GB 32100-2015, 5.2).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// Weights of the 8 body characters of the organisation code (GB 11714-1997).
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Why a string is not a valid unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    /// Not exactly 18 characters (or 16 for a body).
    #[error("统一社会信用代码长度应为 18 位（实际 {0} 位），请核对营业执照")]
    Length(usize),
    /// A character outside the GB 32100 alphabet.
    #[error("统一社会信用代码含非法字符 “{0}”，请核对营业执照（不含 I、O、Z、S、V）")]
    Character(char),
    /// The organisation-code check character (position 17) is wrong.
    #[error("统一社会信用代码第 17 位（组织机构代码校验位）错误，请核对营业执照")]
    OrganisationCheck,
    /// The final check character (position 18) is wrong.
    #[error("统一社会信用代码第 18 位校验码错误，请核对营业执照")]
    Check,
}

/// A well-formed 18-character unified social credit code with valid check characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnifiedSocialCreditCode(String);

fn value_of(c: char) -> Result<u32, UsccError> {
    let upper = c.to_ascii_uppercase();
    ALPHABET
        .iter()
        .position(|&a| char::from(a) == upper)
        .map(|p| p as u32)
        .ok_or(UsccError::Character(c))
}

/// GB 11714 check character over the 8 body characters of an organisation code.
fn organisation_check(body: &[u32]) -> char {
    let sum: u32 = body.iter().zip(ORG_WEIGHTS).map(|(v, w)| v * w).sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from_digit(d, 10).unwrap_or('0'),
    }
}

/// GB 32100 check character over the first 17 characters.
fn final_check(first17: &[u32]) -> char {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    let c = (31 - sum % 31) % 31;
    char::from(ALPHABET[c as usize])
}

impl UnifiedSocialCreditCode {
    /// Completes a 16-character body (authority, type, division, 8-character organisation
    /// code body) with both check characters.
    pub fn from_body(body: &str) -> Result<Self, UsccError> {
        let chars: Vec<char> = body.chars().collect();
        if chars.len() != 16 {
            return Err(UsccError::Length(chars.len()));
        }
        let mut values = chars
            .iter()
            .map(|&c| value_of(c))
            .collect::<Result<Vec<_>, _>>()?;
        let org = organisation_check(&values[8..16]);
        values.push(value_of(org)?);
        let check = final_check(&values);
        let mut code: String = chars.iter().map(|c| c.to_ascii_uppercase()).collect();
        code.push(org);
        code.push(check);
        Ok(Self(code))
    }

    /// Parses and checks an 18-character code.
    pub fn parse(code: &str) -> Result<Self, UsccError> {
        let chars: Vec<char> = code.trim().chars().collect();
        if chars.len() != 18 {
            return Err(UsccError::Length(chars.len()));
        }
        let values = chars
            .iter()
            .map(|&c| value_of(c))
            .collect::<Result<Vec<_>, _>>()?;
        if organisation_check(&values[8..16]) != chars[16].to_ascii_uppercase() {
            return Err(UsccError::OrganisationCheck);
        }
        if final_check(&values[..17]) != chars[17].to_ascii_uppercase() {
            return Err(UsccError::Check);
        }
        Ok(Self(chars.iter().map(|c| c.to_ascii_uppercase()).collect()))
    }

    /// The 18 characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnifiedSocialCreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_example_codes_are_accepted() {
        // Codes printed on public business licences / in GB 32100 explanations.
        for code in ["91350100M000100Y43", "91110000600037341L"] {
            assert!(UnifiedSocialCreditCode::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn generated_code_round_trips_and_a_changed_character_is_caught() {
        let code = UnifiedSocialCreditCode::from_body("9144030071526726").unwrap();
        assert_eq!(code.as_str().len(), 18);
        assert_eq!(
            UnifiedSocialCreditCode::parse(code.as_str()),
            Ok(code.clone())
        );
        let mut tampered: Vec<char> = code.as_str().chars().collect();
        tampered[10] = if tampered[10] == '1' { '2' } else { '1' };
        let tampered: String = tampered.into_iter().collect();
        assert!(UnifiedSocialCreditCode::parse(&tampered).is_err());
    }

    #[test]
    fn wrong_length_and_forbidden_letters_are_refused() {
        assert_eq!(
            UnifiedSocialCreditCode::parse("123"),
            Err(UsccError::Length(3))
        );
        assert_eq!(
            UnifiedSocialCreditCode::parse("91350100M000100I43"),
            Err(UsccError::Character('I'))
        );
    }
}
