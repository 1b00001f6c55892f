"""AWS clients and the DRS / EventBridge calls the pipeline makes through them."""
