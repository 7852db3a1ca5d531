"""The fair CPU peer: NAAF's and SCAN's test-time scores vectorised in PyTorch (einsum over a
chunk of captions at once, float32, the Gram form for the attended context's norm), as a CPU user
would write them. Not part of the product: bench/cpu.bench.mjs runs it beside the WASM backend.

Install (Debian bookworm): apt-get install -y python3-torch libopenblas0-pthread (the second makes
libblas.so.3 OpenBLAS, which Debian's torch, built with BLAS_INFO=generic, then uses); run with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset and Debian's own /usr/bin/python3.

  python3 bench/peers/torch_peer.py check FIXTURES_DIR         # the golden cases, to 1e-6 (float64)
  python3 bench/peers/torch_peer.py time INPUT_DIR --threads 2 # prints one JSON line
INPUT_DIR holds images.npy [N,R,D], captions.npy [M,L,D], lengths.npy [M] (whole numbers as float32) and
spec.json {method, threshold, lambdaSoftmax, lambdaLse, aggregation, repeats, k}.
"""
import json
import os
import sys
import time

import numpy as np
import torch

EPS = 1e-8


def leaky(x):
    return torch.where(x > 0, x, 0.1 * x)


def word_mask(lengths, L):
    return torch.arange(L)[None, :] < lengths[:, None]  # [M, L]


def word_region(images, caps):
    """s [N, M, L, R]: one GEMM of every region against every word (OpenBLAS sgemm)."""
    N, R, D = images.shape
    M, L, _ = caps.shape
    return (images.reshape(N * R, D) @ caps.reshape(M * L, D).T).view(N, R, M, L).permute(0, 2, 3, 1)


def gram_form(a, gram):
    """a^T G_n a per (image, caption, word), batched over images: [N, M, L]."""
    N, M, L, R = a.shape
    ag = torch.bmm(a.reshape(N, M * L, R), gram).view(N, M, L, R)
    return (ag * a).sum(-1)


def naaf_scores(images, gram, caps, lengths, t, lam, lam_intra=5.0):
    """xattn_score_test of a caption chunk against every image: [N, M]."""
    mask = word_mask(lengths, caps.shape[1])  # [M, L]
    s = word_region(images, caps)  # [N, M, L, R]
    s_max = s.max(-1).values
    row_max = s_max - t
    # Negative branch: the mask from the intra-text propagated row max (softmax over the caption's words).
    ww = torch.einsum('mld,mkd->mlk', caps, caps) * lam_intra
    ww = ww.masked_fill(~mask[:, None, :], float('-inf'))
    attn = torch.softmax(ww, -1).nan_to_num(0.0)
    propagated = torch.einsum('mlk,nmk->nml', attn, row_max)
    neg = row_max * (propagated < 0)
    # Positive branch 1: attention over regions above t, exp without max-subtraction.
    x = s - t
    e = torch.exp(lam * x) * (x > 0)
    a = e / (e.sum(-1, keepdim=True) + EPS)
    num = (a * s).sum(-1)
    quad = gram_form(a, gram).clamp_min(0)
    pos_f = num / torch.sqrt(quad).clamp_min(EPS)
    # Positive branch 2: SCAN t2i relevance weights on the raw similarities.
    ls = leaky(s) * mask[None, :, :, None]
    norm = torch.sqrt((ls * ls).sum(2, keepdim=True)) + EPS  # over the caption's words
    b = torch.softmax(lam * ls / norm, -1)
    pos_r = (b * s).sum(-1)
    terms = (neg + pos_f + pos_r) * mask[None]
    return terms.sum(-1) / lengths[None].to(terms.dtype)


def scan_t2i_scores(images, gram, caps, lengths, lam, lam_lse, lse):
    mask = word_mask(lengths, caps.shape[1])
    s = word_region(images, caps)
    ls = leaky(s) * mask[None, :, :, None]
    norm = torch.sqrt((ls * ls).sum(2, keepdim=True)) + EPS
    alpha = torch.softmax(lam * ls / norm, -1)
    num = (alpha * s).sum(-1)
    quad = gram_form(alpha, gram).clamp_min(0)
    word_norm = torch.linalg.vector_norm(caps, dim=-1)[None]
    r = num / (word_norm * torch.sqrt(quad)).clamp_min(EPS)
    if lse:
        r = torch.where(mask[None], r * lam_lse, torch.tensor(float('-inf'), dtype=r.dtype))
        return torch.logsumexp(r, -1) / lam_lse
    return (r * mask[None]).sum(-1) / lengths[None].to(r.dtype)


def similarity(images, caps, lengths, spec, chunk):
    gram = torch.einsum('nrd,nqd->nrq', images, images)
    out = []
    for m0 in range(0, caps.shape[0], chunk):
        c, ln = caps[m0:m0 + chunk], lengths[m0:m0 + chunk]
        if spec['method'] == 'naaf':
            out.append(naaf_scores(images, gram, c, ln, spec['threshold'], spec.get('lambdaSoftmax', 20.0)))
        else:
            out.append(scan_t2i_scores(images, gram, c, ln, spec.get('lambdaSoftmax', 9.0), spec.get('lambdaLse', 6.0), spec.get('aggregation', 'lse') == 'lse'))
    return torch.cat(out, 1)


def chunk_for(N, L, R, tensor_bytes=8 * 2 ** 20):
    """Captions per chunk: each [N, chunk, L, R] tensor within `tensor_bytes`. Larger tensors go to
    mmap in glibc's malloc (past its 32 MiB threshold) and every op then pays page faults on fresh
    memory (10x slower here); 8 MiB was the fastest of 2-64 MiB on this machine."""
    return max(1, tensor_bytes // (4 * N * L * R))


def check(fixtures):
    worst = 0.0
    for name in ['case1_tiny', 'case2_small', 'case4_d128_lam9', 'case6_edge']:
        case = json.load(open(os.path.join(fixtures, f'{name}.json')))
        images = torch.tensor(case['inputs']['img'], dtype=torch.float64)
        caps = torch.tensor(case['inputs']['cap'], dtype=torch.float64)
        lengths = torch.tensor(case['inputs']['cap_lens'])
        p = case['params']
        for key, spec in [('naaf_sims', {'method': 'naaf', 'threshold': p['threshold'], 'lambdaSoftmax': p['lambda_softmax']}),
                          ('scan_t2i_lse', {'method': 'scan-t2i', 'lambdaSoftmax': p['t2i_lambda_softmax'], 'lambdaLse': p['t2i_lambda_lse']}),
                          ('scan_t2i_avg', {'method': 'scan-t2i', 'lambdaSoftmax': p['t2i_lambda_softmax'], 'aggregation': 'mean'})]:
            got = similarity(images, caps, lengths, spec, 4)
            diff = (got - torch.tensor(case['expected'][key], dtype=torch.float64)).abs().max().item()
            worst = max(worst, diff)
            print(f'{name} {key}: max |peer - golden| = {diff:.2e}')
            assert diff < 1e-6, f'{name} {key} differs by {diff}'
    print(json.dumps({'check': 'ok', 'worst': worst}))


def time_it(folder, threads):
    torch.set_num_threads(threads)
    spec = json.load(open(os.path.join(folder, 'spec.json')))
    images = torch.from_numpy(np.load(os.path.join(folder, 'images.npy')))
    caps = torch.from_numpy(np.load(os.path.join(folder, 'captions.npy')))
    lengths = torch.from_numpy(np.load(os.path.join(folder, 'lengths.npy')).astype(np.int64))
    N, R, _ = images.shape
    chunk = chunk_for(N, caps.shape[1], R, int(spec.get('tensorMiB', 8) * 2 ** 20))
    times, topk_times = [], []
    sims = None
    with torch.no_grad():
        for _ in range(spec.get('repeats', 3)):
            start = time.perf_counter()
            sims = similarity(images, caps, lengths, spec, chunk)
            times.append(time.perf_counter() - start)
        if spec.get('k'):
            start = time.perf_counter()
            top = similarity(images, caps, lengths, spec, chunk).topk(spec['k'], dim=0)
            topk_times.append(time.perf_counter() - start)
            np.save(os.path.join(folder, 'peer_topk.npy'), top.indices.numpy().astype(np.float32))  # ids as floats (the bench reads f4)
        # OpenBLAS's own sgemm on the machine now: the CPU's practical limit, in the same run.
        a, b = torch.randn(3600, 256), torch.randn(256, 7200)
        torch.mm(a, b)
        start = time.perf_counter()
        for _ in range(5):
            torch.mm(a, b)
        sgemm = 5 * 2 * 3600 * 256 * 7200 / (time.perf_counter() - start) / 1e9
    np.save(os.path.join(folder, 'peer_sims.npy'), sims.numpy())
    print(json.dumps({'threads': threads, 'seconds': times, 'topkSeconds': topk_times, 'chunk': chunk, 'sgemmGflops': sgemm,
                      'torch': torch.__version__, 'blas': 'openblas' if 'openblas' in os.path.realpath('/etc/alternatives/libblas.so.3-x86_64-linux-gnu') else 'other'}))


if __name__ == '__main__':
    if sys.argv[1] == 'check':
        check(sys.argv[2])
    else:
        threads = int(sys.argv[sys.argv.index('--threads') + 1]) if '--threads' in sys.argv else 2
        time_it(sys.argv[2], threads)
