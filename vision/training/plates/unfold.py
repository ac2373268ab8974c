"""Start training from a shipped ONNX model, whose batch norms were folded into its convolutions."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def load_onnx(model: nn.Module, path: Path, calib: torch.Tensor) -> None:
    """Load the weights of `path` (exported from `model` wrapped as `.model`) into `model`.

    The folded weights go back into the convolutions (in the order the graph runs them, which is the
    order the model declares them); each batch norm is then set from the statistics of the `calib`
    inputs so that it reproduces the folded model exactly and trains like a fresh one. Linear layers
    keep their names in the export and are copied by name.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    nodes = [n for n in graph.node if n.op_type == "Conv"]
    if len(convs) != len(nodes):
        raise ValueError(f"{path}: {len(nodes)} convolutions, the model has {len(convs)}")
    norms = {id(m[0]): m[1] for m in zip(model.modules(), list(model.modules())[1:], strict=False)
             if isinstance(m[0], nn.Conv2d) and isinstance(m[1], nn.BatchNorm2d)}
    folded_bias = {}
    with torch.no_grad():
        for conv, node in zip(convs, nodes, strict=True):
            conv.weight.copy_(torch.from_numpy(weights[node.input[1]]))
            bias = torch.from_numpy(weights[node.input[2]])
            if conv.bias is not None:
                conv.bias.copy_(bias)
                continue
            bn = norms[id(conv)]
            bn.weight.fill_(1.0)
            bn.bias.copy_(bias)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            folded_bias[id(conv)] = bias
        for name, m in model.named_modules():
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.from_numpy(weights[f"model.{name}.weight"]))
                m.bias.copy_(torch.from_numpy(weights[f"model.{name}.bias"]))
        stats: dict[int, torch.Tensor] = {}
        hooks = [c.register_forward_hook(lambda m, i, o: stats.__setitem__(id(m), o))
                 for c in convs if id(c) in folded_bias]
        model.eval()
        model(calib)
        for h in hooks:
            h.remove()
        for conv in convs:
            if id(conv) not in folded_bias:
                continue
            z = stats[id(conv)]
            mean, var = z.mean(dim=(0, 2, 3)), z.var(dim=(0, 2, 3), unbiased=False)
            bn = norms[id(conv)]
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(folded_bias[id(conv)] + mean)
    model.train()
