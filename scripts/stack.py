"""What scripts/deploy and scripts/teardown ask of AWS besides SAM, with boto3 (a
dependency of aws-sam-cli, so it is in the tools virtualenv):

  find-ami                 the newest node image of this account (scripts/build-node-image)
  default-vpc              the account's default VPC in the region
  outputs STACK            the stack's outputs, as KEY=VALUE lines
  upload-ui STACK DIR      DIR into the stack's UI bucket (stale files removed), then a
                           CloudFront invalidation so the page is the new one at once
  empty-ui STACK           empties the UI bucket, which CloudFormation cannot delete full
"""

import mimetypes
import pathlib
import sys
import time

import boto3


def fail(message):
    print(f"stack.py: {message}", file=sys.stderr)
    sys.exit(1)


def find_ami():
    images = boto3.client("ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": ["hangar-node-*"]}]
    )["Images"]
    if not images:
        fail("no hangar-node-* image in this account: run scripts/build-node-image first")
    print(max(images, key=lambda image: image["CreationDate"])["ImageId"])


def default_vpc():
    vpcs = boto3.client("ec2").describe_vpcs(
        Filters=[{"Name": "isDefault", "Values": ["true"]}]
    )["Vpcs"]
    if not vpcs:
        fail("the region has no default VPC: pass NodeVpcId=... (and NodeSubnetId=...)")
    print(vpcs[0]["VpcId"])


def stack_outputs(stack):
    described = boto3.client("cloudformation").describe_stacks(StackName=stack)
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}


def outputs(stack):
    for key, value in sorted(stack_outputs(stack).items()):
        print(f"{key}={value}")


def upload_ui(stack, folder):
    out = stack_outputs(stack)
    bucket, distribution = out["UiBucketName"], out["UiDistributionId"]
    s3 = boto3.client("s3")
    root = pathlib.Path(folder)
    files = [path for path in root.rglob("*") if path.is_file()]
    if not any(path.name == "index.html" for path in files):
        fail(f"{folder} has no index.html: build the UI first (scripts/build-web)")
    wanted = set()
    for path in files:
        key = path.relative_to(root).as_posix()
        wanted.add(key)
        kind = mimetypes.guess_type(key)[0] or "application/octet-stream"
        if key.endswith(".wasm"):
            kind = "application/wasm"
        # The page itself is always asked again; its assets are named per build.
        cache = "no-cache" if key == "index.html" else "public, max-age=300"
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": kind, "CacheControl": cache})
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        stale = [{"Key": o["Key"]} for o in page.get("Contents", []) if o["Key"] not in wanted]
        if stale:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": stale})
    boto3.client("cloudfront").create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"hangar-{int(time.time())}",
        },
    )
    print(out["UiUrl"])


def empty_ui(stack):
    try:
        bucket = stack_outputs(stack)["UiBucketName"]
    except Exception as err:  # no stack, or no bucket: nothing to empty
        print(f"stack.py: no UI bucket to empty ({err})", file=sys.stderr)
        return
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


COMMANDS = {
    "find-ami": (find_ami, 0),
    "default-vpc": (default_vpc, 0),
    "outputs": (outputs, 1),
    "upload-ui": (upload_ui, 2),
    "empty-ui": (empty_ui, 1),
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail(__doc__)
    command, arity = COMMANDS[sys.argv[1]]
    if len(sys.argv) - 2 != arity:
        fail(__doc__)
    command(*sys.argv[2:])
