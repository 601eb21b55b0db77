//! The expiry (`notAfter`) of an X.509 certificate, for the certificate-expiry gauge. rustls
//! does not expose it, and the few DER elements in front of it do not earn a parser crate:
//! `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
//! signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... }` (RFC 5280 4.1).

use time::{Date, Month, PrimitiveDateTime, Time};

const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// Unix seconds at which the DER certificate `der` expires; `None` if it is not one.
pub(crate) fn not_after(der: &[u8]) -> Option<u64> {
    let (certificate, _) = element(der, SEQUENCE)?;
    let (tbs, _) = element(certificate, SEQUENCE)?;
    let rest = match tbs.first() {
        Some(&VERSION) => any(tbs)?.1,
        _ => tbs,
    };
    let (_serial, rest) = any(rest)?;
    let (_signature, rest) = any(rest)?;
    let (_issuer, rest) = any(rest)?;
    let (validity, _) = element(rest, SEQUENCE)?;
    let (_not_before, rest) = any(validity)?;
    let tag = *rest.first()?;
    let (time, _) = any(rest)?;
    parse_time(tag, std::str::from_utf8(time).ok()?)
}

/// The contents of the element at the start of `der` if its tag is `tag`, and what follows.
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    (*der.first()? == tag).then_some(())?;
    any(der)
}

/// The contents of the element at the start of `der`, whatever its tag, and what follows.
fn any(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let first = *der.get(1)?;
    let (length, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        // Long form: the low bits say how many length bytes follow (at most 4 here).
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let bytes = der.get(2..2 + count)?;
        (bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b)), 2 + count)
    };
    let end = header.checked_add(length)?;
    Some((der.get(header..end)?, der.get(end..)?))
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950-2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn parse_time(tag: u8, text: &str) -> Option<u64> {
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy: i32 = digits[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (GENERALIZED_TIME, 14) => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let two = |i: usize| rest[i..i + 2].parse::<u8>().ok();
    let date = Date::from_calendar_date(year, Month::try_from(two(0)?).ok()?, two(2)?).ok()?;
    let time = Time::from_hms(two(4)?, two(6)?, two(8)?).ok()?;
    u64::try_from(PrimitiveDateTime::new(date, time).assume_utc().unix_timestamp()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(not_after: time::OffsetDateTime) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["webhook.example".to_owned()]).expect("params");
        params.not_after = not_after;
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn the_expiry_of_a_certificate_is_read_in_both_time_encodings() {
        // RFC 5280: UTCTime up to 2049, GeneralizedTime from 2050.
        for unix in [1_893_456_000_i64, 2_556_144_000] {
            let at = time::OffsetDateTime::from_unix_timestamp(unix).expect("time");
            assert_eq!(not_after(&certificate(at)), Some(unix as u64), "{at}");
        }
    }

    #[test]
    fn anything_but_a_certificate_has_no_expiry() {
        let der = certificate(time::OffsetDateTime::from_unix_timestamp(1_893_456_000).expect("time"));
        for cut in [0, 1, 4, 40, der.len() / 2] {
            assert_eq!(not_after(&der[..cut]), None, "cut at {cut}");
        }
        assert_eq!(not_after(b"not DER at all"), None);
        assert_eq!(parse_time(UTC_TIME, "2601011200Z"), None, "month 26");
        assert_eq!(parse_time(GENERALIZED_TIME, "20300101000000+0100"), None);
    }
}
