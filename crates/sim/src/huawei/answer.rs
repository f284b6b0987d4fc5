//! A call's answer in Huawei's words: a [`Success`] or a [`Failure`]. A module of its own because
//! the router (`api`) and the handlers it calls (`federation`, `tags`) all build them, and the
//! handlers must not depend on the router.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::world::Refusal;
use natgw_operator::cloud::huawei::wire;

/// A refusal in Huawei's words.
#[derive(Debug)]
pub(super) struct Failure {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl Failure {
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Failure {
        Failure { status, code: code.to_owned(), message: message.into() }
    }

    pub(super) fn auth(message: &str) -> Failure {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "APIG.0301",
            format!("Incorrect IAM authentication information: {message}"),
        )
    }

    /// An injected code, with the status Huawei uses for it.
    pub(super) fn injected(code: String, message: Option<String>) -> Failure {
        let status = match code.as_str() {
            "APIG.0308" | "APIGW.0308" | "CBC.99007197" => StatusCode::TOO_MANY_REQUESTS,
            c if c.starts_with("APIG.03") || c.starts_with("APIGW.03") => StatusCode::UNAUTHORIZED,
            "CBC.0151" | "CBC.0155" => StatusCode::FORBIDDEN,
            c if c.ends_with("NotFound") => StatusCode::NOT_FOUND,
            "CBC.0999" | "NAT.0007" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let message = message.unwrap_or_else(|| format!("Injected failure {code}."));
        Failure { status, code, message }
    }

    pub(super) fn from_refusal(r: Refusal, id: &str) -> Failure {
        match r {
            // The NAT API answers a missing gateway in its Neutron-era shape, decoded by `body`.
            Refusal::NotFound => Failure::new(
                StatusCode::NOT_FOUND,
                "NatGatewayNotFound",
                format!("NatGateway {id} could not be found."),
            ),
            Refusal::NotActive(m) => Failure::new(StatusCode::BAD_REQUEST, "NAT.0103", m),
            Refusal::Invalid(m) => Failure::new(StatusCode::BAD_REQUEST, "NAT.0002", m),
        }
    }

    pub(super) fn body(&self, request_id: &str) -> Value {
        if self.code == "NatGatewayNotFound" {
            json!({"NeutronError": {"message": self.message, "type": self.code, "detail": ""}})
        } else {
            serde_json::to_value(wire::ErrorBody {
                error_code: self.code.clone(),
                error_msg: self.message.clone(),
                request_id: Some(request_id.to_owned()),
            })
            .unwrap_or_default()
        }
    }
}

/// A success: status and JSON body (none for 204).
pub(super) struct Success {
    pub status: StatusCode,
    pub body: Option<Value>,
    /// The order this call opened, for the ledger: (gateway, order id, target).
    pub order: Option<(String, Option<String>, String)>,
    /// A response header the call returns (IAM's `X-Subject-Token`).
    pub header: Option<(&'static str, String)>,
}

pub(super) fn ok(body: Value) -> Success {
    Success { status: StatusCode::OK, body: Some(body), order: None, header: None }
}

pub(super) fn no_content() -> Success {
    Success { status: StatusCode::NO_CONTENT, body: None, order: None, header: None }
}
