//! Staff download of a tender's bid files (开标前获取投标文件): the stored encrypted bytes of
//! each bidder's current bid, streamed from disk, for an opening hall run off the platform.
//!
//! Guarantees: served only to a staff session (the extractor refuses company sessions and no
//! session), only at or after the tender's bid deadline (before it `E_BIDS_SEALED`, 403: a
//! sealed bid never leaves the platform early), only the bidder's current bid (an id of a
//! replaced or withdrawn upload, of another tender, or not shaped like an upload id is 404,
//! the same answer as an unknown one); the bytes are read in [`READ_CHUNK`] pieces, never
//! whole into memory, and the answer is refused (500) when the stored file's size is not the
//! receipt's. Does not: hash the bytes while serving (the receiver checks them against the
//! signed receipt, which the staff listing carries), decrypt anything.

use crate::db::{Bid, Tender};
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;
use tokio::io::AsyncReadExt;

/// Bytes read from disk per piece of the answer.
pub const READ_CHUNK: usize = 256 * 1024;

/// Whether `id` has the shape of an upload id (`U` + 24 lower-case hex): anything else (a
/// path, `..`, an encoded slash) is refused before any lookup.
pub fn is_bid_id(id: &str) -> bool {
    id.len() == 25
        && id.starts_with('U')
        && id[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn sealed(tender: &Tender) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "E_BIDS_SEALED",
        format!(
            "投标截止时间（{}）未到，投标文件仍处于密封状态，截止后才能下载",
            crate::clock::rfc3339(tender.bid_deadline)
        ),
    )
}

/// The current bid `bid_id` of tender `tender_id`, once the deadline has passed.
pub async fn downloadable_bid(
    state: &AppState,
    tender_id: &str,
    bid_id: &str,
) -> Result<Bid, ApiError> {
    let tender = state
        .db
        .tender(tender_id)
        .await?
        .ok_or_else(|| ApiError::not_found("招标项目"))?;
    if state.clock.now_unix() < tender.bid_deadline {
        return Err(sealed(&tender));
    }
    if !is_bid_id(bid_id) {
        return Err(ApiError::not_found("投标文件"));
    }
    state
        .db
        .bids_of_tender(tender_id)
        .await?
        .into_iter()
        .find(|b| b.state == "submitted" && b.upload_id.as_deref() == Some(bid_id))
        .ok_or_else(|| ApiError::not_found("投标文件"))
}

/// The answer streaming the bid's stored file (`application/octet-stream`, its size as
/// `Content-Length`, its SHA-256 in `X-Bid-SHA256`).
pub async fn stream_bid(state: &AppState, bid: &Bid) -> Result<Response, ApiError> {
    let upload = bid
        .upload_id
        .as_deref()
        .ok_or_else(|| ApiError::not_found("投标文件"))?;
    let path = crate::bids::bid_file_path(state, upload);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::internal("open bid file", e))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal("bid file metadata", e))?
        .len();
    if len != bid.size as u64 {
        return Err(ApiError::internal(
            "bid file size",
            format!("{upload}: {len} bytes on disk, {} in the receipt", bid.size),
        ));
    }
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; READ_CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, len)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{upload}.bsbid\""),
        )
        .header("x-bid-sha256", bid.sha256.as_str())
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::internal("bid file answer", e))
}

#[cfg(test)]
mod tests {
    use super::is_bid_id;

    #[test]
    fn only_an_upload_id_shape_is_a_bid_id() {
        assert!(is_bid_id("U0123456789abcdef01234567"));
        for bad in [
            "",
            "U0123456789abcdef0123456",
            "U0123456789abcdef012345678",
            "U0123456789ABCDEF01234567",
            "X0123456789abcdef01234567",
            "../../platform.db",
            "U0123456789abcdef/1234567",
            "U..3456789abcdef012345678",
            "U0123456789abcdef0123456é",
        ] {
            assert!(!is_bid_id(bad), "{bad}");
        }
    }
}
