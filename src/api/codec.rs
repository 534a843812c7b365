//! The server functions' wire format: JSON in a `POST` body, as the
//! framework's own `Json`, but read back from text.
//!
//! Data rendered on the server reaches the browser as text (the page's
//! hydration script) and is read with `serde_json::from_str`; the framework's
//! `Json` reads responses with `from_slice`. Each reader is a separate copy of
//! every response type's parsing code in the WASM, so reading both from text
//! keeps one copy.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::Serialize;
use serde::de::{DeserializeOwned, Error as _};

/// JSON read back from text (see the module's header).
pub struct JsonText;

/// Arguments and results as [`JsonText`] in the body of a `POST`.
pub type Json = Post<JsonText>;

impl ContentType for JsonText {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonText {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonText {
    type Error = serde_json::Error;

    fn encode(value: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(value).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonText {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde_json::Error::custom)?;
        serde_json::from_str(text)
    }
}
