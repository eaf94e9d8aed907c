//! Error collection: the macros report every mistake they find in one build, not only the first.
//!
//! `syn::Error` can already hold several messages (`combine`); `Errors` is the empty-or-not
//! accumulator around it, emitted as one `compile_error!` per message next to the output.

use proc_macro2::TokenStream;
use quote::ToTokens;

/// The errors found so far; none at first.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    /// Adds `error` (which may itself hold several messages) after the ones found so far.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// `Ok(value)` if nothing was found, else every error found.
    pub(crate) fn into_result<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(errors) => Err(errors),
            None => Ok(value),
        }
    }
}

impl ToTokens for Errors {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        if let Some(errors) = &self.0 {
            tokens.extend(errors.to_compile_error());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::Span;

    #[test]
    fn empty() {
        let errors = Errors::default();
        assert!(errors.to_token_stream().is_empty());
        assert_eq!(errors.into_result(1).unwrap(), 1);
    }

    #[test]
    fn every_message_is_kept_in_order() {
        let mut errors = Errors::default();
        errors.push(syn::Error::new(Span::call_site(), "first"));
        errors.push(syn::Error::new(Span::call_site(), "second"));
        assert_eq!(
            errors
                .to_token_stream()
                .to_string()
                .matches("compile_error")
                .count(),
            2
        );
        let messages: Vec<_> = errors.into_result(()).unwrap_err().into_iter().collect();
        let messages: Vec<_> = messages.iter().map(ToString::to_string).collect();
        assert_eq!(messages, ["first", "second"]);
    }
}
