//! The arguments of `#[gort::main(...)]` and `#[gort::test(...)]`.
//!
//! Both attributes take the same, single optional argument:
//!
//! ```text
//! #[gort::main]                 // workers = the number of available cores
//! #[gort::main(workers = 4)]    // an explicit worker count
//! ```
//!
//! `workers` takes an integer literal of at least 1, handed on (unsuffixed, so that it takes the
//! type `Builder::workers` wants) to the generated `.workers(N)` call. Anything else is rejected
//! here, with a message that names the offending argument and says what is expected.
//!
//! Parsing does not stop at the first mistake: every error is collected and reported together,
//! so that `#[gort::main(flavor = "x", workers = 0)]` tells about both arguments in one build.

use proc_macro2::{Literal, Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ExprUnary, Lit, Meta, Token, UnOp};

use crate::errors::Errors;

/// The only argument the attributes accept; named in every "unknown argument" message.
const WORKERS: &str = "workers";

/// The parsed arguments of one attribute. The default is the attribute written without any.
#[derive(Debug, Default)]
pub(crate) struct Args {
    /// The worker count, when given: its value and the span of the literal it was written as.
    pub(crate) workers: Option<(usize, Span)>,
}

impl Args {
    /// The worker count as an unsuffixed literal spanned at the user's literal, so that a type
    /// error in the generated `.workers(N)` call points at what the user wrote.
    pub(crate) fn workers_literal(&self) -> Option<Literal> {
        self.workers.map(|(n, span)| {
            let mut literal = Literal::usize_unsuffixed(n);
            literal.set_span(span);
            literal
        })
    }
}

/// Parses the tokens between the attribute's parentheses (empty when there are none).
///
/// On error, the returned `syn::Error` holds one message per mistake found.
pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Args> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens)?;

    let mut args = Args::default();
    let mut errors = Errors::default();

    let mut seen_workers = false;
    for meta in metas {
        if !meta.path().is_ident(WORKERS) {
            let name = meta.path().to_token_stream().to_string().replace(' ', "");
            errors.push(syn::Error::new_spanned(
                meta.path(),
                format!("unknown argument `{name}`, expected `{WORKERS}`"),
            ));
            continue;
        }
        if seen_workers {
            errors.push(syn::Error::new_spanned(
                meta.path(),
                "duplicate argument `workers`: it may be given once",
            ));
            continue;
        }
        seen_workers = true;
        let Meta::NameValue(name_value) = &meta else {
            errors.push(syn::Error::new_spanned(
                &meta,
                "`workers` needs a value, like `workers = 4`",
            ));
            continue;
        };
        match parse_workers(&name_value.value) {
            Ok(workers) => args.workers = Some(workers),
            Err(error) => errors.push(error),
        }
    }

    errors.into_result(args)
}

/// Reads the value of `workers = ...`: an integer literal of at least 1.
fn parse_workers(value: &Expr) -> syn::Result<(usize, Span)> {
    let at_least_one = |spanned: &dyn ToTokens| {
        syn::Error::new_spanned(
            spanned,
            "`workers` must be at least 1: a runtime needs a worker to run goroutines",
        )
    };
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => {
            // Depending on where the tokens come from, syn reads `-1` as one literal.
            if int.base10_digits().starts_with('-') {
                return Err(at_least_one(int));
            }
            match int.base10_parse::<usize>()? {
                0 => Err(at_least_one(int)),
                n => Ok((n, int.span())),
            }
        }
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) if matches!(
            &**expr,
            Expr::Lit(ExprLit {
                lit: Lit::Int(_),
                ..
            })
        ) =>
        {
            Err(at_least_one(value))
        }
        _ => Err(syn::Error::new_spanned(
            value,
            "`workers` takes an integer literal, like `workers = 4`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// The messages of every error `parse` reports for `tokens`, in order.
    fn errors(tokens: TokenStream) -> Vec<String> {
        match parse(tokens) {
            Ok(args) => panic!("expected an error, parsed {args:?}"),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn workers(tokens: TokenStream) -> Option<usize> {
        parse(tokens).expect("should parse").workers.map(|(n, _)| n)
    }

    #[test]
    fn no_arguments() {
        assert_eq!(workers(quote!()), None);
    }

    #[test]
    fn workers_literal() {
        assert_eq!(workers(quote!(workers = 4)), Some(4));
        assert_eq!(workers(quote!(workers = 1,)), Some(1));
        assert_eq!(workers(quote!(workers = 8usize)), Some(8));
    }

    #[test]
    fn workers_literal_is_unsuffixed() {
        let args = parse(quote!(workers = 2usize)).unwrap();
        assert_eq!(args.workers_literal().unwrap().to_string(), "2");
        assert!(Args::default().workers_literal().is_none());
    }

    #[test]
    fn workers_zero_or_negative() {
        let expected = ["`workers` must be at least 1: a runtime needs a worker to run goroutines"];
        assert_eq!(errors(quote!(workers = 0)), expected);
        assert_eq!(errors(quote!(workers = -1)), expected);
        let from_text: TokenStream = "workers = -1".parse().unwrap();
        assert_eq!(errors(from_text), expected);
    }

    #[test]
    fn workers_not_an_integer() {
        let expected = ["`workers` takes an integer literal, like `workers = 4`"];
        assert_eq!(errors(quote!(workers = "x")), expected);
        assert_eq!(errors(quote!(workers = N)), expected);
        assert_eq!(errors(quote!(workers = 1.5)), expected);
    }

    #[test]
    fn workers_too_large() {
        assert_eq!(
            errors(quote!(workers = 100000000000000000000000)),
            ["number too large to fit in target type"]
        );
    }

    #[test]
    fn workers_without_value() {
        let expected = ["`workers` needs a value, like `workers = 4`"];
        assert_eq!(errors(quote!(workers)), expected);
        assert_eq!(errors(quote!(workers(4))), expected);
    }

    #[test]
    fn unknown_argument() {
        assert_eq!(
            errors(quote!(flavor = "current_thread")),
            ["unknown argument `flavor`, expected `workers`"]
        );
        assert_eq!(
            errors(quote!(worker_threads = 4)),
            ["unknown argument `worker_threads`, expected `workers`"]
        );
        assert_eq!(
            errors(quote!(a::b)),
            ["unknown argument `a::b`, expected `workers`"]
        );
    }

    #[test]
    fn duplicate_workers() {
        assert_eq!(
            errors(quote!(workers = 2, workers = 3)),
            ["duplicate argument `workers`: it may be given once"]
        );
    }

    #[test]
    fn every_error_is_reported() {
        assert_eq!(
            errors(quote!(flavor = "x", workers = 0, workers = 2, workers = 3)),
            [
                "unknown argument `flavor`, expected `workers`",
                "`workers` must be at least 1: a runtime needs a worker to run goroutines",
                "duplicate argument `workers`: it may be given once",
                "duplicate argument `workers`: it may be given once",
            ]
        );
    }

    #[test]
    fn not_a_list_of_arguments() {
        // Tokens that are not `name = value` pairs fail in syn's parser, with its own message.
        assert!(parse(quote!(4)).is_err());
        assert!(parse(quote!(workers = 4 workers = 2)).is_err());
    }
}
