//! Answers in Alibaba Cloud's JSON shape: a success is the action's fields plus `RequestId`; an
//! error is `{RequestId, HostId, Code, Message, Recommend}` with the documented HTTP status (the
//! SDKs raise `ClientException`/`ServerException` carrying `Code` from 4xx/5xx answers).

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse as _, Response},
};
use serde_json::{Value, json};

/// A refused call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.to_owned(), message: message.into() }
    }

    /// 400, the status of almost every documented parameter and state error.
    pub fn bad(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn missing(name: &str) -> ApiError {
        ApiError::bad(
            "MissingParameter",
            format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
        )
    }
}

/// A random id shaped like Alibaba's request ids (an upper-case UUID).
pub fn request_id() -> String {
    let h = hex::encode_upper(rand::random::<[u8; 16]>());
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

pub fn render(result: Result<Value, ApiError>, request_id: &str, host: &str) -> Response {
    match result {
        Ok(mut body) => {
            // An answer replayed for its ClientToken keeps its first RequestId.
            if let Some(fields) = body.as_object_mut() {
                fields.entry("RequestId").or_insert_with(|| Value::String(request_id.to_owned()));
            }
            Json(body).into_response()
        }
        Err(e) => {
            let recommend = format!("https://api.aliyun.com/troubleshoot?q={}&product=sim", e.code);
            let body = json!({
                "RequestId": request_id,
                "HostId": host,
                "Code": e.code,
                "Message": e.message,
                "Recommend": recommend,
            });
            (e.status, Json(body)).into_response()
        }
    }
}
