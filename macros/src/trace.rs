//! `#[derive(Trace)]`: an implementation of gort-gc's `Trace` that traces every field, and a
//! check that the type has no `Drop` impl.
//!
//! ```text
//! #[derive(Trace)]                       unsafe impl<T> ::gort::gc::Trace for Node<T>
//! struct Node<T> {                       where
//!     value: T,                              T: ::gort::gc::Trace,
//!     next: Option<Gc<Node<T>>>,         {
//!     #[gc(skip)]                  ==>       fn trace(&self, tracer: &mut ::gort::gc::Tracer<'_>) {
//!     visits: u64,                               ::gort::gc::Trace::trace(&self.value, tracer);
//! }                                              ::gort::gc::Trace::trace(&self.next, tracer);
//!                                            }
//!                                        }
//! ```
//!
//! An enum becomes a `match self` with one arm per variant, which binds the traced fields as
//! `__gc_0`, `__gc_1`... (by field position; never by field name, so that a field called
//! `tracer` cannot shadow the parameter) and leaves the skipped ones out with `_` or `..`.
//! A type without a traced field (no fields, all skipped, an enum of unit variants) also sets
//! `const NEEDS_TRACE: bool = false`, so that containers of it skip the walk. Every type sets
//! `DROPS_IN_HEAP` from its fields (a traced field's constant, `needs_drop` of a skipped one),
//! so that the collector skips the destructors of objects whose only drop glue is handles.
//!
//! # No `Drop`
//!
//! `Trace`'s contract forbids moving a `Gc` out of a value outside a `GcCell` borrow, and a
//! `Drop` impl could do that, so the derive rejects types with one. It cannot see other impls,
//! so it makes one impossible with pin-project's trick: next to the `Trace` impl, a blanket
//! impl of a private trait for every `T: Drop` and one for the type itself. They conflict
//! exactly when the type implements `Drop`, and the error, at the type's name, names the trait:
//! "conflicting implementations of trait `GcTypesMustNotImplementDrop` for type `Node`".
//!
//! # Attributes
//!
//! - `#[gc(skip)]` on a field: the field is not traced (it must hold no `Gc`);
//! - `#[gc(crate = "path")]` on the type: the path of gort-gc in the output, `::gort::gc` by
//!   default (gort-gc's own tests say `#[gc(crate = "gort_gc")]`).
//!
//! Anything else in a `#[gc(...)]` is an error spanned on the offending token. As with the
//! other macros, every mistake is reported in one build, and the impl is still emitted (with
//! the attributes that could be read), so that the errors do not cascade into "`Trace` is not
//! implemented" wherever the type is used. Unions are rejected: which field to trace depends
//! on which one is live, and only the program knows that.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DataEnum, DataStruct, DeriveInput, Field, Fields, Index, LitStr, Member, Path,
    Token, WhereClause,
};

use crate::errors::Errors;

/// The helper attribute's name.
const GC: &str = "gc";

/// The message for a key of `#[gc(...)]` that is neither `skip` nor `crate`.
fn unknown_key(name: &str) -> String {
    format!(
        "unknown `gc` attribute `{name}`: expected `skip` (on a field) or `crate = \"...\"` (on \
         the type)"
    )
}

/// The message for a `crate` whose value is not a path in a string literal.
const CRATE_VALUE: &str = "`crate` takes a path in a string literal, like `crate = \"gort::gc\"`";

/// Expands `#[derive(Trace)]` on `item`.
pub(crate) fn expand(item: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(item) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let mut errors = Errors::default();
    let krate = container_attributes(&input.attrs, &mut errors)
        .unwrap_or_else(|| syn::parse_quote!(::gort::gc));

    let body = match &input.data {
        Data::Struct(data) => struct_body(&krate, data, &mut errors),
        Data::Enum(data) => enum_body(&krate, &input.ident, data, &mut errors),
        Data::Union(data) => {
            errors.push(syn::Error::new_spanned(
                data.union_token,
                "`Trace` cannot be derived for unions",
            ));
            return errors.into_token_stream();
        }
    };

    let trace_impl = trace_impl(&krate, &input, body);
    let drop_check = drop_check(&input);
    quote!(#trace_impl #drop_check #errors)
}

/// The body of `trace`, whether it traces anything, and what dropping the value does.
struct Body {
    /// The statements of `trace`; they use `tracer` only if `traces` is true.
    tokens: TokenStream,
    /// Whether some field is traced.
    traces: bool,
    /// One `|| ...` term per field for `DROPS_IN_HEAP`: a traced field's own constant, a
    /// skipped field's `needs_drop`.
    drops: TokenStream,
}

/// The `DROPS_IN_HEAP` term of `field`.
fn drops_term(krate: &Path, field: &Field, skipped: bool) -> TokenStream {
    let ty = &field.ty;
    if skipped {
        quote!(|| ::core::mem::needs_drop::<#ty>())
    } else {
        quote!(|| <#ty as #krate::Trace>::DROPS_IN_HEAP)
    }
}

/// `unsafe impl Trace for Name`, with `T: Trace` added for every type parameter.
fn trace_impl(krate: &Path, input: &DeriveInput, body: Body) -> TokenStream {
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let mut where_clause = where_clause.cloned().unwrap_or_else(|| WhereClause {
        where_token: <Token![where]>::default(),
        predicates: Punctuated::new(),
    });
    for param in input.generics.type_params() {
        let param = &param.ident;
        where_clause
            .predicates
            .push(syn::parse_quote!(#param: #krate::Trace));
    }

    let Body {
        tokens,
        traces,
        drops,
    } = body;
    let (needs_trace, tokens) = if traces {
        (None, tokens)
    } else {
        let needs_trace = quote!(
            const NEEDS_TRACE: bool = false;
        );
        (Some(needs_trace), quote!(let _ = tracer;))
    };

    quote! {
        #[automatically_derived]
        #[allow(
            single_use_lifetimes,
            unused_qualifications,
            clippy::absolute_paths,
            clippy::undocumented_unsafe_blocks,
            clippy::used_underscore_binding
        )]
        unsafe impl #impl_generics #krate::Trace for #name #type_generics #where_clause {
            #needs_trace
            const DROPS_IN_HEAP: bool = false #drops;

            #[inline]
            fn trace(&self, tracer: &mut #krate::Tracer<'_>) {
                #tokens
            }
        }
    }
}

/// The check that the type does not implement `Drop`: two impls of a private trait that
/// conflict if it does (module docs).
fn drop_check(input: &DeriveInput) -> TokenStream {
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    // The conflict is reported at the type's impl: at the type's name, rather than at the
    // derive like the rest.
    let span = Span::call_site().located_at(name.span());
    let type_impl = quote_spanned! {span=>
        #[allow(single_use_lifetimes)]
        impl #impl_generics GcTypesMustNotImplementDrop for #name #type_generics #where_clause {}
    };
    quote! {
        const _: () = {
            trait GcTypesMustNotImplementDrop {}
            #[allow(drop_bounds)]
            impl<T: ::core::ops::Drop + ?::core::marker::Sized> GcTypesMustNotImplementDrop for T {}
            #type_impl
        };
    }
}

/// `Trace::trace(&self.field, tracer);` for every traced field of a struct.
fn struct_body(krate: &Path, data: &DataStruct, errors: &mut Errors) -> Body {
    let mut tokens = TokenStream::new();
    let mut traces = false;
    let mut drops = TokenStream::new();
    for (index, field) in data.fields.iter().enumerate() {
        let skipped = field_is_skipped(field, errors);
        drops.extend(drops_term(krate, field, skipped));
        if skipped {
            continue;
        }
        let span = field_span(field);
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(Index {
                index: index as u32,
                span,
            }),
        };
        tokens.extend(trace_call(
            krate,
            span,
            quote_spanned!(span=> &self.#member),
        ));
        traces = true;
    }
    Body {
        tokens,
        traces,
        drops,
    }
}

/// `match self { ... }` with an arm per variant that traces the variant's traced fields.
fn enum_body(krate: &Path, name: &syn::Ident, data: &DataEnum, errors: &mut Errors) -> Body {
    let mut arms = TokenStream::new();
    let mut traces = false;
    let mut drops = TokenStream::new();
    for variant in &data.variants {
        for attribute in gc_attributes(&variant.attrs) {
            errors.push(syn::Error::new_spanned(
                attribute,
                "`gc` attributes go on the fields or on the type, not on a variant",
            ));
        }

        let variant_name = &variant.ident;
        let mut calls = TokenStream::new();
        let mut patterns = Vec::new();
        let mut skipped_any = false;
        for (index, field) in variant.fields.iter().enumerate() {
            let skipped = field_is_skipped(field, errors);
            drops.extend(drops_term(krate, field, skipped));
            if skipped {
                skipped_any = true;
                if field.ident.is_none() {
                    patterns.push(quote!(_));
                }
                continue;
            }
            let span = field_span(field);
            let binding = format_ident!("__gc_{index}", span = span);
            patterns.push(match &field.ident {
                Some(ident) => quote!(#ident: #binding),
                None => binding.to_token_stream(),
            });
            calls.extend(trace_call(krate, span, binding.to_token_stream()));
            traces = true;
        }

        let traces_variant = !calls.is_empty();
        let pattern = match &variant.fields {
            Fields::Named(_) if !traces_variant => quote!({ .. }),
            Fields::Named(_) if skipped_any => quote!({ #(#patterns,)* .. }),
            Fields::Named(_) => quote!({ #(#patterns),* }),
            Fields::Unnamed(_) if !traces_variant => quote!((..)),
            Fields::Unnamed(_) => quote!((#(#patterns),*)),
            Fields::Unit => TokenStream::new(),
        };
        arms.extend(quote!(#name::#variant_name #pattern => { #calls }));
    }
    let tokens = quote!(match self { #arms });
    Body {
        tokens,
        traces,
        drops,
    }
}

/// `Trace::trace(value, tracer);`, spanned at `span` so that "`Trace` is not implemented"
/// points at the field.
fn trace_call(krate: &Path, span: Span, value: TokenStream) -> TokenStream {
    quote_spanned!(span=> #krate::Trace::trace(#value, tracer);)
}

/// Where the code generated for `field` points: at its type, so that errors such as
/// "`Trace` is not implemented" name the field, but resolved where the derive is, so that the
/// names it introduces (`tracer`, the bindings) see each other even if the type was written by
/// a `macro_rules!` macro.
fn field_span(field: &Field) -> Span {
    Span::call_site().located_at(field.ty.span())
}

/// The `#[gc(...)]` attributes among `attributes`.
fn gc_attributes(attributes: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attributes
        .iter()
        .filter(|attribute| attribute.path().is_ident(GC))
}

/// Runs `read` on every key of the `#[gc(...)]` attributes among `attributes`. `read` returns
/// false for a key it does not know, which is reported (and its value skipped, so that the
/// keys after it are still read); parse errors are collected rather than returned.
fn each_key(
    attributes: &[Attribute],
    errors: &mut Errors,
    mut read: impl FnMut(&ParseNestedMeta<'_>, &mut Errors) -> syn::Result<bool>,
) {
    for attribute in gc_attributes(attributes) {
        let result = attribute.parse_nested_meta(|meta| {
            if !read(&meta, errors)? {
                errors.push(meta.error(unknown_key(&key(&meta))));
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
}

/// Reads the type's `#[gc(...)]` attributes: the path of `crate = "..."`, if given.
fn container_attributes(attributes: &[Attribute], errors: &mut Errors) -> Option<Path> {
    let mut krate = None;
    each_key(attributes, errors, |meta, errors| {
        if meta.path.is_ident("crate") {
            if krate.is_some() {
                errors.push(meta.error("duplicate `crate`: it may be given once"));
                skip_value(meta)?;
            } else {
                match crate_path(meta) {
                    Ok(path) => krate = Some(path),
                    Err(error) => errors.push(error),
                }
            }
        } else if meta.path.is_ident("skip") {
            errors.push(meta.error("`skip` goes on a field, not on the type"));
            skip_value(meta)?;
        } else {
            return Ok(false);
        }
        Ok(true)
    });
    krate
}

/// Reads the value of `crate = "..."`; the tokens up to the next comma are consumed even if it
/// is not a path in a string, so that the remaining keys can still be read.
fn crate_path(meta: &ParseNestedMeta<'_>) -> syn::Result<Path> {
    if !meta.input.peek(Token![=]) {
        let value = skip_value(meta)?;
        let error = if value.is_empty() {
            meta.error(CRATE_VALUE)
        } else {
            syn::Error::new_spanned(value, CRATE_VALUE)
        };
        return Err(error);
    }
    meta.input.parse::<Token![=]>()?;
    let value = skip_value(meta)?;
    let literal: LitStr =
        syn::parse2(value.clone()).map_err(|_| syn::Error::new_spanned(&value, CRATE_VALUE))?;
    literal
        .parse_with(Path::parse_mod_style)
        .map_err(|_| syn::Error::new_spanned(&literal, CRATE_VALUE))
}

/// Whether `field` carries `#[gc(skip)]`; any other key is reported.
fn field_is_skipped(field: &Field, errors: &mut Errors) -> bool {
    let mut skip = false;
    each_key(&field.attrs, errors, |meta, errors| {
        if meta.path.is_ident("skip") {
            if skip {
                errors.push(meta.error("duplicate `skip`: it may be given once"));
            }
            skip = true;
            let value = skip_value(meta)?;
            if !value.is_empty() {
                errors.push(syn::Error::new_spanned(
                    value,
                    "`skip` takes no value: write `#[gc(skip)]`",
                ));
            }
        } else if meta.path.is_ident("crate") {
            errors.push(meta.error("`crate = \"...\"` goes on the type, not on a field"));
            skip_value(meta)?;
        } else {
            return Ok(false);
        }
        Ok(true)
    });
    skip
}

/// The key of `meta` as written, for messages.
fn key(meta: &ParseNestedMeta<'_>) -> String {
    meta.path.to_token_stream().to_string().replace(' ', "")
}

/// Consumes and returns what follows the key of `meta` (`= value`, `(...)`, or nothing) up to
/// the next comma, so that the keys after a bad one are still read.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<TokenStream> {
    meta.input.step(|cursor| {
        let mut value = TokenStream::new();
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, TokenTree::Punct(punct) if punct.as_char() == ',') {
                break;
            }
            value.extend([tree]);
            rest = next;
        }
        Ok((value, rest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expands `input` and splits the result into the items and the error messages.
    fn expand_input(input: DeriveInput) -> (Vec<syn::Item>, Vec<String>) {
        let file: syn::File = syn::parse2(expand(input.into_token_stream())).expect("valid Rust");
        let mut items = Vec::new();
        let mut errors = Vec::new();
        for item in file.items {
            match item {
                syn::Item::Macro(mac)
                    if mac.mac.path.segments.last().unwrap().ident == "compile_error" =>
                {
                    let message: LitStr = mac.mac.parse_body().unwrap();
                    errors.push(message.value());
                }
                other => items.push(other),
            }
        }
        (items, errors)
    }

    /// The `Trace` impl generated for `input`, as a string; there must be no error.
    fn trace_impl_of(input: DeriveInput) -> String {
        let (items, errors) = expand_input(input);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(items.len(), 2, "the impl and the drop check");
        assert!(matches!(&items[0], syn::Item::Impl(_)));
        items[0].to_token_stream().to_string()
    }

    /// The error messages for `input`.
    fn errors_of(input: DeriveInput) -> Vec<String> {
        expand_input(input).1
    }

    /// The impl's attributes, as they appear at the start of every expected impl.
    fn attributes() -> TokenStream {
        quote! {
            #[automatically_derived]
            #[allow(
                single_use_lifetimes,
                unused_qualifications,
                clippy::absolute_paths,
                clippy::undocumented_unsafe_blocks,
                clippy::used_underscore_binding
            )]
        }
    }

    #[test]
    fn named_struct() {
        let attributes = attributes();
        let expected = quote! {
            #attributes
            unsafe impl ::gort::gc::Trace for Pair {
                const DROPS_IN_HEAP: bool = false
                    || <Gc<u32> as ::gort::gc::Trace>::DROPS_IN_HEAP
                    || <Option<Gc<u32> > as ::gort::gc::Trace>::DROPS_IN_HEAP;
                #[inline]
                fn trace(&self, tracer: &mut ::gort::gc::Tracer<'_>) {
                    ::gort::gc::Trace::trace(&self.left, tracer);
                    ::gort::gc::Trace::trace(&self.right, tracer);
                }
            }
        };
        let input = syn::parse_quote! {
            struct Pair {
                left: Gc<u32>,
                pub right: Option<Gc<u32>>,
            }
        };
        assert_eq!(trace_impl_of(input), expected.to_string());
    }

    #[test]
    fn tuple_struct() {
        let attributes = attributes();
        let expected = quote! {
            #attributes
            unsafe impl ::gort::gc::Trace for Pair {
                const DROPS_IN_HEAP: bool = false
                    || <Gc<u32> as ::gort::gc::Trace>::DROPS_IN_HEAP
                    || ::core::mem::needs_drop::<u64>()
                    || <Gc<u32> as ::gort::gc::Trace>::DROPS_IN_HEAP;
                #[inline]
                fn trace(&self, tracer: &mut ::gort::gc::Tracer<'_>) {
                    ::gort::gc::Trace::trace(&self.0, tracer);
                    ::gort::gc::Trace::trace(&self.2, tracer);
                }
            }
        };
        let input = syn::parse_quote! {
            struct Pair(Gc<u32>, #[gc(skip)] u64, Gc<u32>);
        };
        assert_eq!(trace_impl_of(input), expected.to_string());
    }

    #[test]
    fn nothing_to_trace() {
        let attributes = attributes();
        for (name, drops, input) in [
            (
                "Unit",
                quote!(),
                syn::parse_quote!(
                    struct Unit;
                ),
            ),
            (
                "Empty",
                quote!(),
                syn::parse_quote!(
                    struct Empty {}
                ),
            ),
            (
                "Tuple",
                quote!(),
                syn::parse_quote!(
                    struct Tuple();
                ),
            ),
            (
                "Skipped",
                quote!(|| ::core::mem::needs_drop::<u8>()),
                syn::parse_quote!(
                    struct Skipped(#[gc(skip)] u8);
                ),
            ),
            (
                "Void",
                quote!(),
                syn::parse_quote!(
                    enum Void {}
                ),
            ),
            (
                "Units",
                quote!(),
                syn::parse_quote!(
                    enum Units {
                        A,
                        B,
                    }
                ),
            ),
            (
                "Skips",
                quote!(|| ::core::mem::needs_drop::<u8>() || ::core::mem::needs_drop::<u8>()),
                syn::parse_quote!(
                    enum Skips {
                        A(#[gc(skip)] u8),
                        B {
                            #[gc(skip)]
                            b: u8,
                        },
                    }
                ),
            ),
        ] {
            let name = format_ident!("{name}");
            let expected = quote! {
                #attributes
                unsafe impl ::gort::gc::Trace for #name {
                    const NEEDS_TRACE: bool = false;
                    const DROPS_IN_HEAP: bool = false #drops;

                    #[inline]
                    fn trace(&self, tracer: &mut ::gort::gc::Tracer<'_>) {
                        let _ = tracer;
                    }
                }
            };
            assert_eq!(trace_impl_of(input), expected.to_string());
        }
    }

    #[test]
    fn enumeration() {
        let attributes = attributes();
        let expected = quote! {
            #attributes
            unsafe impl ::gort::gc::Trace for Shape {
                const DROPS_IN_HEAP: bool = false
                    || <Gc<u32> as ::gort::gc::Trace>::DROPS_IN_HEAP
                    || <Gc<u32> as ::gort::gc::Trace>::DROPS_IN_HEAP
                    || ::core::mem::needs_drop::<f64>()
                    || <Gc<u32> as ::gort::gc::Trace>::DROPS_IN_HEAP
                    || ::core::mem::needs_drop::<u8>()
                    || <Gc<u32> as ::gort::gc::Trace>::DROPS_IN_HEAP
                    || <Gc<u32> as ::gort::gc::Trace>::DROPS_IN_HEAP
                    || ::core::mem::needs_drop::<String>()
                    || <Gc<u32> as ::gort::gc::Trace>::DROPS_IN_HEAP
                    || ::core::mem::needs_drop::<String>();
                #[inline]
                fn trace(&self, tracer: &mut ::gort::gc::Tracer<'_>) {
                    match self {
                        Shape::Empty => {}
                        Shape::Point(__gc_0) => {
                            ::gort::gc::Trace::trace(__gc_0, tracer);
                        }
                        Shape::Line(__gc_0, _, __gc_2) => {
                            ::gort::gc::Trace::trace(__gc_0, tracer);
                            ::gort::gc::Trace::trace(__gc_2, tracer);
                        }
                        Shape::Tagged(..) => {}
                        Shape::Named { tracer: __gc_0, to: __gc_1 } => {
                            ::gort::gc::Trace::trace(__gc_0, tracer);
                            ::gort::gc::Trace::trace(__gc_1, tracer);
                        }
                        Shape::Labelled { at: __gc_1, .. } => {
                            ::gort::gc::Trace::trace(__gc_1, tracer);
                        }
                        Shape::Blank { .. } => {}
                        Shape::Braces { .. } => {}
                    }
                }
            }
        };
        let input = syn::parse_quote! {
            enum Shape {
                Empty,
                Point(Gc<u32>),
                Line(Gc<u32>, #[gc(skip)] f64, Gc<u32>),
                Tagged(#[gc(skip)] u8),
                Named { tracer: Gc<u32>, to: Gc<u32> },
                Labelled { #[gc(skip)] label: String, at: Gc<u32> },
                Blank { #[gc(skip)] label: String },
                Braces {},
            }
        };
        assert_eq!(trace_impl_of(input), expected.to_string());
    }

    #[test]
    fn generics() {
        let attributes = attributes();
        let expected = quote! {
            #attributes
            unsafe impl<'a, T: Clone, U, const N: usize> ::gort::gc::Trace for Node<'a, T, U, N>
            where
                U: Default,
                T: ::gort::gc::Trace,
                U: ::gort::gc::Trace
            {
                const DROPS_IN_HEAP: bool = false
                    || <[(T, U); N] as ::gort::gc::Trace>::DROPS_IN_HEAP
                    || ::core::mem::needs_drop::<&'a str>();
                #[inline]
                fn trace(&self, tracer: &mut ::gort::gc::Tracer<'_>) {
                    ::gort::gc::Trace::trace(&self.values, tracer);
                }
            }
        };
        let input = syn::parse_quote! {
            struct Node<'a, T: Clone, U = u8, const N: usize = 4>
            where
                U: Default,
            {
                values: [(T, U); N],
                #[gc(skip)]
                name: &'a str,
            }
        };
        assert_eq!(trace_impl_of(input), expected.to_string());
    }

    #[test]
    fn drop_check() {
        let input = syn::parse_quote! {
            struct Node<'a, T: Clone, const N: usize = 4> where T: Default {
                value: &'a [T; N],
            }
        };
        let (items, _) = expand_input(input);
        let expected = quote! {
            const _: () = {
                trait GcTypesMustNotImplementDrop {}
                #[allow(drop_bounds)]
                impl<T: ::core::ops::Drop + ?::core::marker::Sized> GcTypesMustNotImplementDrop
                    for T {}
                #[allow(single_use_lifetimes)]
                impl<'a, T: Clone, const N: usize> GcTypesMustNotImplementDrop
                    for Node<'a, T, N> where T: Default {}
            };
        };
        assert_eq!(items[1].to_token_stream().to_string(), expected.to_string());
    }

    #[test]
    fn crate_override() {
        let input = syn::parse_quote! {
            #[gc(crate = "gort_gc")]
            struct Wrapper<T>(T);
        };
        let generated = trace_impl_of(input);
        assert!(generated.contains(
            "unsafe impl < T > gort_gc :: Trace for Wrapper < T > where T : gort_gc :: Trace"
        ));
        assert!(generated.contains("tracer : & mut gort_gc :: Tracer < '_ >"));
        assert!(generated.contains("gort_gc :: Trace :: trace (& self . 0 , tracer) ;"));
        assert!(!generated.contains("gort ::"));

        let input = syn::parse_quote! {
            #[gc(crate = "::my::gc")]
            #[derive(Debug)]
            #[gc()]
            enum E { A(u8) }
        };
        let generated = trace_impl_of(input);
        assert!(generated.contains(":: my :: gc :: Trace :: trace (__gc_0 , tracer)"));
    }

    #[test]
    fn union() {
        let input = syn::parse_quote! {
            union U { a: u32, b: f32 }
        };
        let (items, errors) = expand_input(input);
        assert!(items.is_empty());
        assert_eq!(errors, ["`Trace` cannot be derived for unions"]);
    }

    #[test]
    fn unknown_attribute() {
        let message = unknown_key("foo");
        assert_eq!(
            message,
            "unknown `gc` attribute `foo`: expected `skip` (on a field) or `crate = \"...\"` \
             (on the type)"
        );
        let input = syn::parse_quote! {
            struct S {
                #[gc(foo)]
                a: u8,
            }
        };
        assert_eq!(errors_of(input), [message.as_str()]);
        let input = syn::parse_quote! {
            #[gc(foo = 1, bar::baz(x, y))]
            struct S;
        };
        assert_eq!(
            errors_of(input),
            [unknown_key("foo"), unknown_key("bar::baz")]
        );
    }

    #[test]
    fn misplaced_attributes() {
        let input = syn::parse_quote! {
            #[gc(skip)]
            struct S {
                #[gc(crate = "x")]
                a: u8,
            }
        };
        assert_eq!(
            errors_of(input),
            [
                "`skip` goes on a field, not on the type",
                "`crate = \"...\"` goes on the type, not on a field",
            ]
        );
        let input = syn::parse_quote! {
            enum E {
                #[gc(skip)]
                A(u8),
            }
        };
        assert_eq!(
            errors_of(input),
            ["`gc` attributes go on the fields or on the type, not on a variant"]
        );
    }

    #[test]
    fn duplicates() {
        let input = syn::parse_quote! {
            #[gc(crate = "a", crate = "b")]
            #[gc(crate = "c")]
            struct S {
                #[gc(skip, skip)]
                #[gc(skip)]
                a: u8,
            }
        };
        let (items, errors) = expand_input(input);
        assert_eq!(
            errors,
            [
                "duplicate `crate`: it may be given once",
                "duplicate `crate`: it may be given once",
                "duplicate `skip`: it may be given once",
                "duplicate `skip`: it may be given once",
            ]
        );
        // The first `crate` is used, and the field is skipped.
        let generated = items[0].to_token_stream().to_string();
        assert!(generated.starts_with("# [automatically_derived]"));
        assert!(generated.contains("unsafe impl a :: Trace for S"));
        assert!(generated.contains("let _ = tracer ;"));
    }

    #[test]
    fn bad_values() {
        let input = syn::parse_quote! {
            #[gc(crate)]
            #[gc(crate = gort::gc)]
            #[gc(crate("gort::gc"))]
            #[gc(crate = "not a path")]
            #[gc(crate = "gort::<T>")]
            struct S {
                #[gc(skip = true)]
                a: u8,
                #[gc(skip(yes))]
                b: u8,
            }
        };
        let (items, errors) = expand_input(input);
        assert_eq!(
            errors,
            [
                CRATE_VALUE,
                CRATE_VALUE,
                CRATE_VALUE,
                CRATE_VALUE,
                CRATE_VALUE,
                "`skip` takes no value: write `#[gc(skip)]`",
                "`skip` takes no value: write `#[gc(skip)]`",
            ]
        );
        // The impl is still emitted, with the default path, and the fields are skipped.
        let generated = items[0].to_token_stream().to_string();
        assert!(generated.contains("unsafe impl :: gort :: gc :: Trace for S"));
        assert!(generated.contains("let _ = tracer ;"));
    }

    #[test]
    fn not_a_list() {
        // `#[gc]` and `#[gc = ...]` fail in syn's parser, with its own message.
        for input in [
            syn::parse_quote!(
                #[gc]
                struct S;
            ),
            syn::parse_quote!(
                struct S(#[gc = "skip"] u8);
            ),
        ] {
            let (items, errors) = expand_input(input);
            assert_eq!(errors.len(), 1);
            assert_eq!(items.len(), 2);
        }
    }

    #[test]
    fn every_error_is_reported() {
        let input = syn::parse_quote! {
            #[gc(skip, crate = "a", crate = "b", foo)]
            enum E {
                #[gc(bar)]
                A(#[gc(skip, crate = "c")] u8, #[gc(baz)] u8),
                B { #[gc(skip = 1, qux)] b: u8 },
            }
        };
        assert_eq!(errors_of(input).len(), 8);
    }
}
