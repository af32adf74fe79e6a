//! template.yaml, rendered from the code: one function per Lambda of
//! `hangar_functions::lambda::catalog`, each with exactly the grants and variables its needs
//! name, the routes of the HTTP and WebSocket APIs from the same catalog, and the shared
//! resources. `scripts/render-template` writes it; a test holds the committed file equal to
//! the rendering, so the template cannot drift from the code.

mod functions;
mod routes;
mod shared;

use std::fmt::Write;

use hangar_functions::lambda::catalog::lambdas;

/// Lines of YAML at an indentation.
#[derive(Default)]
pub struct Yaml {
    text: String,
}

impl Yaml {
    /// Writes `line` at `depth` levels of two spaces.
    pub fn line(&mut self, depth: usize, line: impl AsRef<str>) -> &mut Self {
        let _ = writeln!(
            self.text,
            "{:width$}{}",
            "",
            line.as_ref(),
            width = depth * 2
        );
        self
    }

    /// Writes every line of `block` at `depth` more levels than written.
    pub fn block(&mut self, depth: usize, block: &str) -> &mut Self {
        for line in block.lines() {
            if line.is_empty() {
                self.text.push('\n');
            } else {
                self.line(depth, line);
            }
        }
        self
    }

    pub fn blank(&mut self) -> &mut Self {
        self.text.push('\n');
        self
    }
}

/// CloudFormation's logical id of a Lambda's function: `create-task` → `CreateTaskFunction`.
pub fn function_id(lambda: &str) -> String {
    format!("{}Function", pascal(lambda))
}

/// `create-task` → `CreateTask`.
pub fn pascal(name: &str) -> String {
    name.split(['-', '_', '$'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The whole template.
pub fn render() -> String {
    let lambdas = lambdas();
    let mut yaml = Yaml::default();
    yaml.block(0, shared::HEADER).blank();
    yaml.block(0, shared::PARAMETERS).blank();
    yaml.block(0, shared::GLOBALS).blank();
    yaml.line(0, "Resources:");
    yaml.block(1, shared::RESOURCES);
    routes::websocket_routes(&mut yaml, &lambdas);
    routes::http_routes(&mut yaml, &lambdas);
    for lambda in &lambdas {
        yaml.blank();
        functions::function(&mut yaml, lambda);
        yaml.blank();
        functions::alarm(&mut yaml, lambda);
    }
    yaml.blank();
    yaml.block(0, shared::OUTPUTS);
    yaml.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_are_pascal_case() {
        assert_eq!(function_id("create-task"), "CreateTaskFunction");
        assert_eq!(pascal("$connect"), "Connect");
    }
}
