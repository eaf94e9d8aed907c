//! The lowering of `#[gort::main]` and `#[gort::test]`: an `async fn` becomes a plain `fn` that
//! builds a runtime with the public `Builder` and blocks on the body.
//!
//! ```text
//! #[gort::main(workers = 4)]            fn main() -> Result<(), E> {
//! async fn main() -> Result<(), E> {        let body = async move { ... };
//!     ...                         ==>       ::gort::__private::Builder::new()
//! }                                             .workers(4)
//!                                               .build()
//!                                               .expect("failed to build the gort runtime")
//!                                               .block_on(body)
//!                                       }
//! ```
//!
//! That is the whole macro: the body runs as the main goroutine of a fresh runtime, the
//! function keeps its name, visibility, attributes and return type, and `#[gort::test]` adds
//! `#[::core::prelude::v1::test]` in front. Nothing here knows how the runtime works; anything
//! the macro does can be written out by hand with `gort::Builder`.
//!
//! # Bad input
//!
//! A mistake (a missing `async`, parameters, generics, a bad argument, a second test attribute)
//! does not make the function disappear: it is still emitted, lowered as above with the
//! arguments that could be read, next to one `compile_error!` per mistake. The build fails with
//! those messages, and an IDE still sees the function, its body and its types.
//! Only input that is not a function at all is handed back unchanged with the error.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Attribute, ItemFn};

use crate::args::{self, Args};
use crate::errors::Errors;

/// Which attribute is being expanded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[gort::main]`
    Main,
    /// `#[gort::test]`
    Test,
}

impl Kind {
    /// The attribute as the user writes it, for error messages.
    fn attribute(self) -> &'static str {
        match self {
            Kind::Main => "#[gort::main]",
            Kind::Test => "#[gort::test]",
        }
    }
}

/// Expands `#[gort::main]` or `#[gort::test]`: `attr` is what is between the attribute's
/// parentheses, `item` the item it is placed on.
pub(crate) fn expand(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();

    let args = args::parse(attr).unwrap_or_else(|error| {
        errors.push(error);
        Args::default()
    });

    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            errors.push(error);
            return quote!(#item #errors);
        }
    };

    check_signature(kind, &function, &mut errors);
    let add_test_attribute = kind == Kind::Test && !has_test_attribute(&function, &mut errors);

    let lowered = lower(&args, function, add_test_attribute);
    quote!(#lowered #errors)
}

/// Reports what makes `function` unfit to be an entry point: it must be `async`, take no
/// parameters and have no generics, since the macro calls it with nothing and knows no types.
fn check_signature(kind: Kind, function: &ItemFn, errors: &mut Errors) {
    let signature = &function.sig;
    if signature.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            signature.fn_token,
            "the `async` keyword is missing from the function declaration",
        ));
    }
    if !signature.inputs.is_empty() {
        errors.push(syn::Error::new_spanned(
            &signature.inputs,
            format!(
                "`{}` functions cannot take parameters: they are called with none",
                kind.attribute()
            ),
        ));
    }
    let generics = &signature.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        let spanned = match &generics.where_clause {
            Some(where_clause) if generics.params.is_empty() => where_clause.to_token_stream(),
            _ => generics.to_token_stream(),
        };
        errors.push(syn::Error::new_spanned(
            spanned,
            format!("`{}` functions cannot be generic", kind.attribute()),
        ));
    }
}

/// Whether `function` already carries a test attribute (`#[test]`, a path ending in `test`,
/// another `#[gort::test]`); that is reported as an error, since a second one would either
/// register the test twice or run the `async fn` without a runtime.
fn has_test_attribute(function: &ItemFn, errors: &mut Errors) -> bool {
    let is_test = |attribute: &&Attribute| {
        let segments = &attribute.path().segments;
        segments.last().is_some_and(|last| last.ident == "test")
    };
    let Some(attribute) = function.attrs.iter().find(is_test) else {
        return false;
    };
    errors.push(syn::Error::new_spanned(
        attribute,
        "second test attribute is supplied, \
         consider removing or changing the order of your test attributes",
    ));
    true
}

/// The lowering itself: the same for main and tests, and for good and bad input.
fn lower(args: &Args, mut function: ItemFn, add_test_attribute: bool) -> TokenStream {
    function.sig.asyncness = None;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;

    let test_attribute = add_test_attribute.then(|| quote!(#[::core::prelude::v1::test]));
    let workers = args.workers_literal().map(|n| quote!(.workers(#n)));

    quote! {
        #test_attribute
        #(#attrs)*
        #vis #sig {
            let body = async move #block;
            ::gort::__private::Builder::new()
                #workers
                .build()
                .expect("failed to build the gort runtime")
                .block_on(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands `item` and splits the result into the function and the error messages.
    fn expand_item(kind: Kind, attr: TokenStream, item: TokenStream) -> (ItemFn, Vec<String>) {
        let file: syn::File = syn::parse2(expand(kind, attr, item)).expect("valid Rust");
        let mut function = None;
        let mut errors = Vec::new();
        for item in file.items {
            match item {
                syn::Item::Fn(item) => {
                    assert!(function.is_none(), "one function is emitted");
                    function = Some(item);
                }
                syn::Item::Macro(mac)
                    if mac.mac.path.segments.last().unwrap().ident == "compile_error" =>
                {
                    let message: syn::LitStr = mac.mac.parse_body().unwrap();
                    errors.push(message.value());
                }
                other => panic!("unexpected item: {}", other.to_token_stream()),
            }
        }
        (function.expect("the function is emitted"), errors)
    }

    fn body(function: &ItemFn) -> String {
        function.block.to_token_stream().to_string()
    }

    fn attributes(function: &ItemFn) -> Vec<String> {
        let attrs = function.attrs.iter();
        attrs.map(|a| a.to_token_stream().to_string()).collect()
    }

    #[test]
    fn main_lowers_to_the_builder() {
        let (function, errors) = expand_item(
            Kind::Main,
            quote!(),
            quote!(
                async fn main() {
                    hello().await
                }
            ),
        );
        assert!(errors.is_empty());
        assert!(function.sig.asyncness.is_none());
        assert!(function.attrs.is_empty());
        let expected = quote! {{
            let body = async move { hello().await };
            ::gort::__private::Builder::new()
                .build()
                .expect("failed to build the gort runtime")
                .block_on(body)
        }};
        assert_eq!(body(&function), expected.to_string());
    }

    #[test]
    fn workers_reach_the_builder() {
        let (function, errors) = expand_item(
            Kind::Main,
            quote!(workers = 4),
            quote!(
                async fn main() {}
            ),
        );
        assert!(errors.is_empty());
        assert!(body(&function).contains(". workers (4) . build ()"));
    }

    #[test]
    fn signature_and_attributes_are_kept() {
        let (function, errors) = expand_item(
            Kind::Main,
            quote!(),
            quote! {
                /// Docs.
                #[allow(unused)]
                pub(crate) async fn run() -> Result<(), String> { Ok(()) }
            },
        );
        assert!(errors.is_empty());
        assert_eq!(function.sig.ident, "run");
        assert_eq!(function.vis.to_token_stream().to_string(), "pub (crate)");
        let output = function.sig.output.to_token_stream().to_string();
        assert_eq!(output, "-> Result < () , String >");
        assert_eq!(
            attributes(&function),
            ["# [doc = r\" Docs.\"]", "# [allow (unused)]"]
        );
    }

    #[test]
    fn test_adds_the_test_attribute_first() {
        let (function, errors) = expand_item(
            Kind::Test,
            quote!(workers = 2),
            quote!(
                #[should_panic]
                #[ignore]
                async fn it_works() {}
            ),
        );
        assert!(errors.is_empty());
        assert_eq!(
            attributes(&function),
            [
                "# [:: core :: prelude :: v1 :: test]",
                "# [should_panic]",
                "# [ignore]"
            ]
        );
    }

    #[test]
    fn missing_async() {
        let (function, errors) = expand_item(
            Kind::Main,
            quote!(),
            quote!(
                fn main() {}
            ),
        );
        assert_eq!(
            errors,
            ["the `async` keyword is missing from the function declaration"]
        );
        assert!(body(&function).contains("block_on"));
    }

    #[test]
    fn parameters() {
        let (function, errors) = expand_item(
            Kind::Test,
            quote!(),
            quote!(
                async fn t(x: u32) {}
            ),
        );
        assert_eq!(
            errors,
            ["`#[gort::test]` functions cannot take parameters: they are called with none"]
        );
        assert_eq!(function.sig.inputs.len(), 1);
    }

    #[test]
    fn generics() {
        let (_, errors) = expand_item(
            Kind::Main,
            quote!(),
            quote!(
                async fn main<T>() {}
            ),
        );
        assert_eq!(errors, ["`#[gort::main]` functions cannot be generic"]);
        let (_, errors) = expand_item(
            Kind::Main,
            quote!(),
            quote!(
                async fn main()
                where
                    u8: Copy,
                {
                }
            ),
        );
        assert_eq!(errors, ["`#[gort::main]` functions cannot be generic"]);
    }

    #[test]
    fn second_test_attribute() {
        let message = "second test attribute is supplied, \
                       consider removing or changing the order of your test attributes";
        for attribute in [quote!(#[test]), quote!(#[gort::test])] {
            let (function, errors) =
                expand_item(Kind::Test, quote!(), quote!(#attribute async fn t() {}));
            assert_eq!(errors, [message]);
            // The user's attribute stays, and no second one is added.
            assert_eq!(function.attrs.len(), 1);
        }
    }

    #[test]
    fn bad_arguments_still_emit_the_function() {
        let (function, errors) = expand_item(
            Kind::Test,
            quote!(workers = 0),
            quote!(
                async fn t() {
                    work().await
                }
            ),
        );
        assert_eq!(
            errors,
            ["`workers` must be at least 1: a runtime needs a worker to run goroutines"]
        );
        assert!(function.sig.asyncness.is_none());
        assert!(!body(&function).contains("workers"));
        assert_eq!(function.attrs.len(), 1);
    }

    #[test]
    fn every_error_is_reported() {
        let (_, errors) = expand_item(
            Kind::Main,
            quote!(unknown),
            quote!(
                fn main<T>(t: T) {}
            ),
        );
        assert_eq!(errors.len(), 4);
    }

    #[test]
    fn not_a_function() {
        let output = expand(
            Kind::Main,
            quote!(),
            quote!(
                struct S;
            ),
        );
        let file: syn::File = syn::parse2(output).unwrap();
        assert_eq!(file.items.len(), 2);
        assert!(matches!(file.items[0], syn::Item::Struct(_)));
    }
}
