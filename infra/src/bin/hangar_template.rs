//! `hangar-template`: prints template.yaml as the code renders it (scripts/render-template
//! writes it to the repository).

fn main() {
    print!("{}", hangar_infra::template::render());
}
