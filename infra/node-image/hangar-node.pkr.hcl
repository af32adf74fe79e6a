# The Hangar node image: Amazon Linux 2023 with hangar-agent and its services
# (scripts/build-node-image builds the agent and runs this). The stack's NodeAmiId takes
# the image's id; a new image retires warm nodes of the old one.
packer {
  required_plugins {
    amazon = {
      version = ">= 1.3.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

variable "agent_binary" {
  type        = string
  description = "hangar-agent built for x86_64-unknown-linux-gnu"
}

variable "release" {
  type        = string
  description = "the agent's release, in the image's name and tags"
}

variable "region" {
  type    = string
  default = "us-east-1"
}

source "amazon-ebs" "node" {
  region        = var.region
  instance_type = "t3.small"
  ssh_username  = "ec2-user"
  ami_name      = "hangar-node-${var.release}-{{timestamp}}"
  imds_support  = "v2.0"

  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["amazon"]
    most_recent = true
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  tags = {
    "hangar:release" = var.release
  }
}

build {
  sources = ["source.amazon-ebs.node"]

  provisioner "file" {
    source      = var.agent_binary
    destination = "/tmp/hangar-agent"
  }

  provisioner "file" {
    source      = "${path.root}/"
    destination = "/tmp/node-image"
  }

  provisioner "shell" {
    inline = ["sudo bash /tmp/node-image/setup.sh"]
  }
}
