//! The project's settings, for its owner: name, default branch and VM size, which ACP agent
//! runs (a preset or a command line), its variables, its secrets (write-only: only their
//! names are shown), its setup script, and the forge with its token (write-only).

use std::collections::BTreeMap;
use std::rc::Rc;

use hangar_protocol::agent::{AgentPreset, AgentRequest};
use hangar_protocol::forge::{ForgeKind, ForgeRequest, UpdateProjectRequest};
use hangar_protocol::permissions::{PermissionMode, PermissionSettings};
use hangar_protocol::tasks::{ProjectView, VmSize};
use hangar_protocol::webhooks::WebhookSettings;
use sycamore::prelude::*;

use crate::state::Ctx;

/// What the form holds, as text.
#[derive(Clone, Copy)]
struct Form {
    name: Signal<String>,
    branch: Signal<String>,
    size: Signal<String>,
    agent: Signal<String>,
    command: Signal<String>,
    env: Signal<String>,
    secrets: Signal<String>,
    setup: Signal<String>,
    forge_repository: Signal<String>,
    forge_api: Signal<String>,
    forge_token: Signal<String>,
    /// The project's permission settings as read; the form changes only what it shows.
    permissions: Signal<PermissionSettings>,
    ask_default: Signal<String>,
    ask_execute: Signal<String>,
    ask_edit: Signal<String>,
    ask_timeout: Signal<String>,
    webhook: Signal<String>,
    had_webhook: Signal<bool>,
}

fn mode_name(mode: PermissionMode) -> &'static str {
    match mode {
        PermissionMode::Ask => "ask",
        PermissionMode::Allow => "allow",
        PermissionMode::Deny => "deny",
    }
}

fn mode_of(name: &str) -> Option<PermissionMode> {
    match name {
        "ask" => Some(PermissionMode::Ask),
        "allow" => Some(PermissionMode::Allow),
        "deny" => Some(PermissionMode::Deny),
        _ => None,
    }
}

const COMMAND: &str = "command";

fn preset_name(preset: AgentPreset) -> String {
    serde_json::to_value(preset)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

impl Form {
    fn new() -> Form {
        Form {
            name: create_signal(String::new()),
            branch: create_signal(String::new()),
            size: create_signal(String::new()),
            agent: create_signal(String::new()),
            command: create_signal(String::new()),
            env: create_signal(String::new()),
            secrets: create_signal(String::new()),
            setup: create_signal(String::new()),
            forge_repository: create_signal(String::new()),
            forge_api: create_signal(String::new()),
            forge_token: create_signal(String::new()),
            permissions: create_signal(PermissionSettings::default()),
            ask_default: create_signal(String::new()),
            ask_execute: create_signal(String::new()),
            ask_edit: create_signal(String::new()),
            ask_timeout: create_signal(String::new()),
            webhook: create_signal(String::new()),
            had_webhook: create_signal(false),
        }
    }

    fn fill(&self, project: &ProjectView) {
        self.name.set(project.name.clone());
        self.branch.set(project.default_branch.clone());
        self.size.set(project.default_vm_size.as_str().to_string());
        let agent = match (&project.acp_command, project.agent.preset) {
            (Some(_), _) => COMMAND.to_string(),
            (None, Some(preset)) => preset_name(preset),
            (None, None) => String::new(),
        };
        self.agent.set(agent);
        self.command
            .set(project.acp_command.clone().unwrap_or_default());
        let env: Vec<String> = project
            .agent
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        self.env.set(env.join("\n"));
        self.secrets.set(String::new());
        self.setup
            .set(project.agent.setup_script.clone().unwrap_or_default());
        let forge = project.forge.as_ref();
        self.forge_repository
            .set(forge.map(|f| f.repository.clone()).unwrap_or_default());
        self.forge_api
            .set(forge.map(|f| f.api_url.clone()).unwrap_or_default());
        self.forge_token.set(String::new());
        let permissions = &project.permissions;
        self.ask_default
            .set(mode_name(permissions.default).to_string());
        let kind = |name: &str| {
            permissions
                .by_kind
                .get(name)
                .map_or(String::new(), |mode| mode_name(*mode).to_string())
        };
        self.ask_execute.set(kind("execute"));
        self.ask_edit.set(kind("edit"));
        self.ask_timeout.set(permissions.timeout_secs.to_string());
        self.permissions.set(permissions.clone());
        let webhook = project.webhook.as_ref().map(|w| w.url.clone());
        self.had_webhook.set(webhook.is_some());
        self.webhook.set(webhook.unwrap_or_default());
    }

    /// The webhook change: a URL sets it, an emptied field removes it.
    fn webhook(&self) -> Option<Option<WebhookSettings>> {
        let url = self.webhook.get_clone().trim().to_string();
        match (url.is_empty(), self.had_webhook.get()) {
            (false, _) => Some(Some(WebhookSettings { url })),
            (true, true) => Some(None),
            (true, false) => None,
        }
    }

    /// The permission settings the form asks for (kinds it does not show are kept).
    fn permissions(&self) -> PermissionSettings {
        let mut settings = self.permissions.get_clone();
        if let Some(mode) = mode_of(&self.ask_default.get_clone()) {
            settings.default = mode;
        }
        for (kind, chosen) in [("execute", self.ask_execute), ("edit", self.ask_edit)] {
            match mode_of(&chosen.get_clone()) {
                Some(mode) => settings.by_kind.insert(kind.into(), mode),
                None => settings.by_kind.remove(kind),
            };
        }
        if let Ok(secs) = self.ask_timeout.get_clone().trim().parse() {
            settings.timeout_secs = secs;
        }
        settings
    }

    /// The change the form asks for; `KEY=VALUE` lines, and `-KEY` to delete a secret.
    fn request(&self) -> UpdateProjectRequest {
        let lines = |text: String| -> Vec<String> {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        };
        let env: BTreeMap<String, String> = lines(self.env.get_clone())
            .into_iter()
            .filter_map(|line| {
                line.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.to_string()))
            })
            .collect();
        let secrets: BTreeMap<String, Option<String>> = lines(self.secrets.get_clone())
            .into_iter()
            .filter_map(|line| match line.strip_prefix('-') {
                Some(name) => Some((name.trim().to_string(), None)),
                None => line
                    .split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), Some(v.to_string()))),
            })
            .collect();
        let agent_choice = self.agent.get_clone();
        let (preset, command) = match agent_choice.as_str() {
            "" => (Some(None), Some(None)),
            COMMAND => (None, Some(Some(self.command.get_clone()))),
            name => (
                Some(serde_json::from_value(serde_json::Value::String(name.into())).ok()),
                None,
            ),
        };
        let setup = self.setup.get_clone();
        let repository = self.forge_repository.get_clone().trim().to_string();
        let token = self.forge_token.get_clone().trim().to_string();
        let api = self.forge_api.get_clone().trim().to_string();
        UpdateProjectRequest {
            name: Some(self.name.get_clone()),
            repo: None,
            default_branch: Some(self.branch.get_clone()),
            default_vm_size: self.size.get_clone().parse::<VmSize>().ok(),
            acp_command: command,
            forge: (!repository.is_empty()).then(|| {
                Some(ForgeRequest {
                    kind: ForgeKind::Github,
                    api_url: (!api.is_empty()).then_some(api),
                    repository: Some(repository),
                    token: (!token.is_empty()).then_some(token),
                    // A GitHub App is set through the API (its private key is a file).
                    app: None,
                })
            }),
            agent: Some(AgentRequest {
                preset,
                env: Some(env),
                secrets: (!secrets.is_empty()).then_some(secrets),
                setup_script: Some((!setup.trim().is_empty()).then_some(setup)),
            }),
            permissions: Some(self.permissions()),
            webhook: self.webhook(),
        }
    }
}

/// The settings button and, when open, the form.
pub fn settings(ctx: Rc<Ctx>) -> View {
    let page = ctx.page;
    let open = create_signal(false);
    let form = Form::new();
    let toggle = move |_| {
        if !open.get()
            && let Some(project) = page.project.get_clone()
        {
            form.fill(&project);
        }
        open.set(!open.get());
    };
    let secret_names = move || {
        page.project.with(|p| {
            p.as_ref()
                .map(|p| p.agent.secret_names.join(", "))
                .filter(|names| !names.is_empty())
                .unwrap_or_else(|| "none".into())
        })
    };
    let has_token = move || {
        page.project.with(|p| {
            p.as_ref()
                .and_then(|p| p.forge.as_ref())
                .is_some_and(|f| f.has_credential)
        })
    };
    let save = move |_| {
        let ctx = Rc::clone(&ctx);
        let request = form.request();
        wasm_bindgen_futures::spawn_local(async move {
            if ctx.update_project(request).await {
                open.set(false);
            }
        });
    };
    view! {
        button(class="link-button", data-testid="settings-toggle", on:click=toggle) { "Settings" }
        (if open.get() {
            let save = save.clone();
            view! {
                div(class="settings", data-testid="settings") {
                    label { "Name" input(data-testid="settings-name", bind:value=form.name) }
                    label { "Default branch" input(data-testid="settings-branch", bind:value=form.branch) }
                    label { "Default VM size"
                        select(data-testid="settings-size", bind:value=form.size) {
                            option(value="small") { "small" } option(value="medium") { "medium" } option(value="large") { "large" }
                        }
                    }
                    label { "ACP agent"
                        select(data-testid="settings-agent", bind:value=form.agent) {
                            option(value="") { "The stack's default" }
                            option(value="claude-code-acp") { "Claude Code (claude-code-acp)" }
                            option(value="codex-acp") { "Codex (codex-acp)" }
                            option(value="gemini") { "Gemini CLI" }
                            option(value=COMMAND) { "A command line…" }
                        }
                    }
                    label { "Command line" input(data-testid="settings-command", bind:value=form.command, placeholder="my-agent --acp") }
                    label { "Variables (KEY=VALUE per line)" textarea(data-testid="settings-env", bind:value=form.env, rows="3") }
                    label {
                        "Secrets (KEY=VALUE to set, -KEY to delete; kept: " (secret_names) ")"
                        textarea(data-testid="settings-secrets", bind:value=form.secrets, rows="2", placeholder="ANTHROPIC_API_KEY=…")
                    }
                    label { "Setup script (sh, in the checkout)" textarea(data-testid="settings-setup", bind:value=form.setup, rows="3", placeholder="npm ci") }
                    label { "GitHub repository (owner/name)" input(data-testid="settings-forge-repository", bind:value=form.forge_repository) }
                    label { "GitHub API URL" input(data-testid="settings-forge-api", bind:value=form.forge_api, placeholder="https://api.github.com") }
                    label {
                        (if has_token() { "GitHub token (one is kept; leave empty to keep it)" } else { "GitHub token" })
                        input(data-testid="settings-forge-token", r#type="password", bind:value=form.forge_token)
                    }
                    fieldset(class="permissions") {
                        legend { "Permissions the agent asks for" }
                        label { "Any tool"
                            select(data-testid="settings-ask-default", bind:value=form.ask_default) {
                                option(value="ask") { "Ask the people watching" } option(value="allow") { "Allow" } option(value="deny") { "Deny" }
                            }
                        }
                        label { "Running commands"
                            select(data-testid="settings-ask-execute", bind:value=form.ask_execute) {
                                option(value="") { "As any tool" } option(value="ask") { "Ask" } option(value="allow") { "Allow" } option(value="deny") { "Deny" }
                            }
                        }
                        label { "Editing files"
                            select(data-testid="settings-ask-edit", bind:value=form.ask_edit) {
                                option(value="") { "As any tool" } option(value="ask") { "Ask" } option(value="allow") { "Allow" } option(value="deny") { "Deny" }
                            }
                        }
                        label { "Seconds a question waits before it is denied"
                            input(data-testid="settings-ask-timeout", r#type="number", min="1", max="86400", bind:value=form.ask_timeout)
                        }
                    }
                    label { "Webhook (an https:// URL told when a task ends or a permission waits)"
                        input(data-testid="settings-webhook", bind:value=form.webhook, placeholder="https://hooks.example.com/hangar")
                    }
                    button(data-testid="settings-save", on:click=save) { "Save" }
                }
            }
        } else {
            view! {}
        })
    }
}
