//! `select!`: parsing the arms and lowering them onto gort-sync's select engine.
//!
//! The input is `$crate; arm*` (gort-sync's `select!` passes its own path first, so the output
//! names the engine wherever the macro is used), each arm `pat = expr => body` or
//! `default => body`, a body being a block (comma optional) or an expression (comma required
//! unless last). The lowering:
//!
//! ```text
//! match (Wrap::new(expr0), Wrap::new(expr1)) {        // evaluated in source order, as Go
//!     (mut w0, mut w1) => {                            // does; temporaries such as the
//!         let mut a0 = pin!((&mut w0).__gort_select_arm());   // receiver of
//!         let mut a1 = pin!((&mut w1).__gort_select_arm());   // `after(d).recv()` live on
//!         struct Arms<'p, A0, A1>(Pin<&'p mut A0>, Pin<&'p mut A1>);   // + `impl Arms`
//!         match Select::<_, 2>::new(Arms(a0.as_mut(), a1.as_mut()), has_default).await {
//!             Some(0) => { let pat0 = take_output(a0.as_mut()); body0 }
//!             Some(1) => { let pat1 = take_output(a1.as_mut()); body1 }
//!             _ => default_body,
//!         }
//!     }
//! }
//! ```
//!
//! The generated `Arms` struct keeps each arm's concrete type, so the select future is `Send`
//! exactly when its arms are. Bodies stay in the caller's function: `return`, `break`, `?`
//! work in them as in a `match`.

use crate::errors::Errors;
use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Pat, Token};

struct Arm {
    pat: Pat,
    expr: Expr,
    body: Expr,
}

struct Input {
    krate: TokenStream,
    arms: Vec<Arm>,
    default: Option<Expr>,
}

/// A body: a block with an optional comma after it, or an expression with a comma after it
/// unless it is the last arm.
fn parse_body(input: ParseStream<'_>) -> syn::Result<Expr> {
    if input.peek(syn::token::Brace) {
        let block: syn::ExprBlock = input.parse()?;
        input.parse::<Option<Token![,]>>()?;
        return Ok(Expr::Block(block));
    }
    let body: Expr = input.parse()?;
    if !input.is_empty() {
        input.parse::<Token![,]>()?;
    }
    Ok(body)
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Input> {
        let mut krate = TokenStream::new();
        while !input.peek(Token![;]) {
            krate.extend([input.parse::<TokenTree>()?]);
        }
        input.parse::<Token![;]>()?;
        let mut arms = Vec::new();
        let mut default = None;
        let mut errors = Errors::default();
        while !input.is_empty() {
            if input.peek(Token![default]) && input.peek2(Token![=>]) {
                let keyword: Token![default] = input.parse()?;
                input.parse::<Token![=>]>()?;
                let body = parse_body(input)?;
                if default.replace(body).is_some() {
                    errors.push(syn::Error::new(
                        keyword.span,
                        "gort::select!: more than one `default` arm",
                    ));
                }
                continue;
            }
            let pat = Pat::parse_single(input)?;
            input.parse::<Token![=]>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "gort::select!: expected `pattern = future => body` or `default => body`",
                )
            })?;
            let expr: Expr = input.parse()?;
            input.parse::<Token![=>]>()?;
            let body = parse_body(input)?;
            arms.push(Arm { pat, expr, body });
        }
        errors.into_result(Input {
            krate,
            arms,
            default,
        })
    }
}

/// Expands `select_impl!`; a parse error becomes a `compile_error!` at its place.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<Input>(input) {
        Ok(input) => lower(input),
        Err(error) => error.to_compile_error(),
    }
}

fn lower(input: Input) -> TokenStream {
    let Input {
        krate,
        arms,
        default,
    } = input;
    let n = arms.len();
    if n == 0 {
        return match default {
            Some(body) => quote!({ #body }),
            // Go's `select {}`: blocks forever.
            None => {
                quote!({ match ::core::future::pending::<::core::convert::Infallible>().await {} })
            }
        };
    }
    let local = |prefix: &str, i: usize| Ident::new(&format!("{prefix}{i}"), Span::mixed_site());
    let wraps: Vec<_> = (0..n).map(|i| local("__gort_w", i)).collect();
    let pinned: Vec<_> = (0..n).map(|i| local("__gort_a", i)).collect();
    let types: Vec<_> = (0..n)
        .map(|i| Ident::new(&format!("A{i}"), Span::call_site()))
        .collect();
    let fields: Vec<_> = (0..n).map(syn::Index::from).collect();
    let indices: Vec<_> = (0..n).collect();
    let exprs = arms.iter().map(|arm| &arm.expr);
    let pats = arms.iter().map(|arm| &arm.pat);
    let bodies = arms.iter().map(|arm| &arm.body);
    let has_default = default.is_some();
    let otherwise = match default {
        Some(body) => quote!(_ => { #body }),
        None => quote!(_ => ::core::unreachable!("gort::select!: no arm was taken")),
    };
    quote! {{
        use #krate::__private::select as __gort_select;
        match ( #( __gort_select::Wrap::new(#exprs), )* ) {
            ( #( mut #wraps, )* ) => {
                #[allow(unused_imports)]
                use __gort_select::{IntoChanArm as _, IntoFutureArm as _};
                #( let mut #pinned = ::core::pin::pin!((&mut #wraps).__gort_select_arm()); )*
                struct __GortSelectArms<'p, #(#types),*>(
                    #( ::core::pin::Pin<&'p mut #types>, )*
                );
                impl<'p, #(#types: __gort_select::SelectHandle),*> __gort_select::Arms
                    for __GortSelectArms<'p, #(#types),*>
                {
                    fn arm(
                        &mut self,
                        i: usize,
                    ) -> ::core::pin::Pin<&mut dyn __gort_select::SelectHandle> {
                        match i {
                            #( #indices => self.#fields.as_mut(), )*
                            _ => ::core::unreachable!(),
                        }
                    }
                }
                let __gort_taken = __gort_select::Select::<_, #n>::new(
                    __GortSelectArms( #( #pinned.as_mut(), )* ),
                    #has_default,
                ).await;
                match __gort_taken {
                    #(
                        ::core::option::Option::Some(#indices) => {
                            let #pats = __gort_select::ArmOutput::take_output(#pinned.as_mut());
                            #bodies
                        }
                    )*
                    #otherwise
                }
            }
        }
    }}
}
