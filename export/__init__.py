"""ONNX export of trained models with KV-cached graphs; installed as `livegen.export`."""
