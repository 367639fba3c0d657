//! Syntax tree of a Bicep file, as far as the supported subset needs it.

use super::error::Span;

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Coalesce,
    Eq,
    Ne,
    EqI,
    NeI,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Str(String),
    /// `'a${x}b'`: `parts` has one more element than `holes`.
    Interp {
        parts: Vec<String>,
        holes: Vec<Expr>,
    },
    Int(u64),
    Bool(bool),
    Null,
    Ident(String),
    Object(Vec<ObjItem>),
    Array(Vec<Expr>),
    For(Box<ForExpr>),
    /// `if (cond) { ... }` as the body of a resource, module or loop.
    If {
        cond: Box<Expr>,
        body: Box<Expr>,
    },
    Call {
        name: String,
        name_span: Span,
        args: Vec<Expr>,
    },
    /// `base.name(args)`: a namespaced function (`az.`, `sys.`) or a resource function.
    MethodCall {
        base: Box<Expr>,
        name: String,
        name_span: Span,
        args: Vec<Expr>,
    },
    Member {
        base: Box<Expr>,
        name: String,
    },
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// `parent::child`.
    Child {
        base: Box<Expr>,
        name: String,
    },
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        other: Box<Expr>,
    },
    Paren(Box<Expr>),
    /// `x => body`, `(x, i) => body`: an argument of `map`, `filter`, `reduce` and the like.
    Lambda {
        params: Vec<(String, Span)>,
        body: Box<Expr>,
    },
}

#[derive(Debug, Clone)]
pub struct ForExpr {
    pub item: Option<(String, Span)>,
    pub index: Option<(String, Span)>,
    pub collection: Expr,
    pub body: Expr,
}

#[derive(Debug, Clone)]
pub enum ObjItem {
    Prop(ObjProp),
    Resource(Box<ResourceDecl>),
}

#[derive(Debug, Clone)]
pub struct ObjProp {
    /// The key text; empty when the key is interpolated.
    pub key: String,
    pub key_span: Span,
    /// An interpolated key (`'${x}': ...`).
    pub key_expr: Option<Box<Expr>>,
    pub value: Expr,
}

#[derive(Debug, Clone)]
pub struct Decorator {
    pub name: String,
    pub args: Vec<Expr>,
    pub span: Span,
}

/// A type expression: a parameter's, output's or variable's type, or a `type` declaration's value.
#[derive(Debug, Clone)]
pub struct TypeNode {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum TypeKind {
    /// `string`, `object`, ... or the name of a `type` declaration.
    Named(String),
    /// `'a'`, `1`, `-1`, `true`, `false`, `null`.
    Literal(LiteralType),
    /// `T?`.
    Nullable(Box<TypeNode>),
    /// `T[]`.
    Array(Box<TypeNode>),
    /// `a | b | ...`, members in source order.
    Union(Vec<TypeNode>),
    /// `{ a: T, *: U }`.
    Object { props: Vec<TypeProp>, additional: Option<Box<TypeProp>> },
    /// `[T, U]`.
    Tuple(Vec<TypeItem>),
    /// `T.prop`: a property of a declared object type.
    Property(Box<TypeNode>, String),
    /// `resourceInput<'Type@version'>.a[*].b` (`output` for `resourceOutput`).
    Derived { output: bool, reference: String, path: Vec<DerivedStep> },
}

/// One step of a resource-derived type's path.
#[derive(Debug, Clone, PartialEq)]
pub enum DerivedStep {
    /// `.name`
    Property(String),
    /// `[*]`
    Items,
    /// `.*`
    AdditionalProperties,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LiteralType {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
}

/// A property of an object type (`*` for additional properties).
#[derive(Debug, Clone)]
pub struct TypeProp {
    pub decorators: Vec<Decorator>,
    pub name: String,
    pub ty: TypeNode,
}

/// An item of a tuple type.
#[derive(Debug, Clone)]
pub struct TypeItem {
    pub decorators: Vec<Decorator>,
    pub ty: TypeNode,
}

/// `func name(p type, …) type => body`.
#[derive(Debug, Clone)]
pub struct FuncDecl {
    pub decorators: Vec<Decorator>,
    pub name: String,
    pub name_span: Span,
    pub params: Vec<FuncParam>,
    pub output: TypeNode,
    pub body: Expr,
}

#[derive(Debug, Clone)]
pub struct FuncParam {
    pub name: String,
    pub name_span: Span,
    pub ty: TypeNode,
}

#[derive(Debug, Clone)]
pub struct TypeDecl {
    pub decorators: Vec<Decorator>,
    pub name: String,
    pub name_span: Span,
    pub value: TypeNode,
}

#[derive(Debug, Clone)]
pub struct ParamDecl {
    pub decorators: Vec<Decorator>,
    pub name: String,
    pub name_span: Span,
    pub ty: TypeNode,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct VarDecl {
    pub decorators: Vec<Decorator>,
    pub name: String,
    pub name_span: Span,
    /// A typed variable's declared type (`var x string = ...`).
    pub ty: Option<TypeNode>,
    pub value: Expr,
}

#[derive(Debug, Clone)]
pub struct ResourceDecl {
    pub decorators: Vec<Decorator>,
    pub name: String,
    pub name_span: Span,
    pub type_ref: String,
    pub type_span: Span,
    pub existing: bool,
    pub value: Expr,
}

#[derive(Debug, Clone)]
pub struct ModuleDecl {
    pub decorators: Vec<Decorator>,
    pub name: String,
    pub name_span: Span,
    pub path: String,
    pub path_span: Span,
    pub value: Expr,
}

#[derive(Debug, Clone)]
pub struct OutputDecl {
    pub decorators: Vec<Decorator>,
    pub name: String,
    pub name_span: Span,
    pub ty: TypeNode,
    pub value: Expr,
}

#[derive(Debug, Clone)]
pub struct MetadataDecl {
    pub name: String,
    pub name_span: Span,
    pub value: Expr,
}

/// `import {a, b as c} from 'path'` or `import * as ns from 'path'`.
#[derive(Debug, Clone)]
pub struct ImportDecl {
    pub items: ImportItems,
    /// The reference as written: a local `.bicep` or `.json` file, or `br:`/`br/<alias>:`.
    pub path: String,
    pub path_span: Span,
}

#[derive(Debug, Clone)]
pub enum ImportItems {
    Named(Vec<ImportedName>),
    Wildcard { alias: String, alias_span: Span },
}

/// One name of `import {…}`: the exported symbol and the name it is bound to here.
#[derive(Debug, Clone)]
pub struct ImportedName {
    pub name: String,
    pub name_span: Span,
    pub alias: Option<String>,
}

impl ImportedName {
    /// The name the symbol has in the importing file.
    pub fn local(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone)]
pub enum Stmt {
    TargetScope(Expr),
    Import(ImportDecl),
    Metadata(MetadataDecl),
    Param(ParamDecl),
    Type(TypeDecl),
    Func(FuncDecl),
    Var(VarDecl),
    Resource(ResourceDecl),
    Module(ModuleDecl),
    Output(OutputDecl),
}

/// The property `key` of an object body.
pub fn prop<'a>(items: &'a [ObjItem], key: &str) -> Option<&'a ObjProp> {
    items.iter().find_map(|item| match item {
        ObjItem::Prop(p) if p.key == key && p.key_expr.is_none() => Some(p),
        _ => None,
    })
}
