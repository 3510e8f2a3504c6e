"""The printed table of a benchmark result."""


def _fmt(value, spec='.4f'):
    return '-' if value is None else format(value, spec)


def format_table(res: dict) -> str:
    model = ''
    if res.get('step_s') is not None:
        model = (f'batch {res["batch_size"]} | '
                 f'{res.get("autocast_dtype", "fp32")} '
                 f'{"AMP" if res["amp"] else ""}'
                 f'{" | compiled parts" if res.get("compile") else ""} | '
                 f'{res["iters"]} iters after {res["warmup"]} warm-up, '
                 'interleaved | ')
    head = (f'{res["config"]} | {res.get("algorithm", "")} | '
            f'{res["device_type"]}: {res["device"]} '
            f'({res["threads"]} threads) | torch {res["torch"]} | {model}'
            f'load avg {res["load_average_start"]} -> '
            f'{res["load_average_end"]}')
    lines = [head]
    if res.get('step_s') is not None:
        views = res['views']
        groups = {}
        for s in views:
            groups[s] = groups.get(s, 0) + 1
        mem = res['mem_method'] or \
            'null (no per-step peak on this platform)'
        lines.append('views: ' + ' + '.join(
            f'{n}x{s}px' for s, n in groups.items()) +
            f'; epoch {res["epoch"]}; memory: {mem}')
        lines.append('')
        lines.append(f'| {"step":<22} | {"median s":>9} | {"IQR s":>8} | '
                     f'{"min s":>8} | {"max s":>8} | {"img/s":>8} | '
                     f'{"peak GiB":>8} | {"MFU":>6} |')
        lines.append('|' + '|'.join('-' * w for w in
                                    (24, 11, 10, 10, 10, 10, 10, 8)) + '|')
        for label, prefix in (('floor (backbone only)', 'floor_'),
                              ('architecture floor', 'arch_floor_'),
                              (f'full ({res["algorithm"]})', '')):
            spread = res[f'{prefix}step_spread_s']
            mfu = res.get(f'{prefix}mfu')
            lines.append(
                f'| {label:<22} | {res[f"{prefix}step_s"]:9.4f} | '
                f'{spread["iqr"]:8.4f} | {spread["min"]:8.4f} | '
                f'{spread["max"]:8.4f} | {res[f"{prefix}img_per_s"]:8.1f} | '
                f'{_fmt(res[f"{prefix}peak_mem_gib"], "8.3f"):>8} | '
                f'{_fmt(None if mfu is None else 100 * mfu, "5.1f"):>6} |')
        for label, key, mem in (('full / floor', 'ratio', 'mem_ratio'),
                                ('full / arch floor', 'arch_ratio',
                                 'arch_mem_ratio')):
            lines.append(
                f'| {label:<22} | {res[key]:8.3f}x | '
                f'{"":>8} | {"":>8} | {"":>8} | {"":>8} | '
                f'{_fmt(res[mem], "7.3f") + "x":>8} | {"":>6} |')
        lines.append(f'paired per-iteration ratios, median: '
                     f'{res["ratio_paired_median"]:.3f}x (floor), '
                     f'{res["arch_ratio_paired_median"]:.3f}x (arch); '
                     f'fastest steps (min/min): {res["ratio_of_min"]:.3f}x, '
                     f'{res["arch_ratio_of_min"]:.3f}x; first steps (s): '
                     f'{res["floor_first_step_s"]:.2f}, '
                     f'{res["arch_floor_first_step_s"]:.2f}, '
                     f'{res["first_step_s"]:.2f}')
        if res.get('flops_ratio') is not None:
            lines.append(
                f'FLOPs per step (matmul/conv/attention, fwd+bwd): floor '
                f'{res["floor_gflops"]:.1f} G, arch floor '
                f'{res["arch_floor_gflops"]:.1f} G, full '
                f'{res["gflops"]:.1f} G; full/floor '
                f'{res["flops_ratio"]:.3f}x, full/arch '
                f'{res["arch_flops_ratio"]:.3f}x (the compute-bound '
                'ratios); MFU against '
                f'{_fmt(res.get("peak_tflops"), ".0f")} TFLOP/s')
    if res.get('pipeline_img_per_s_per_worker') is not None:
        lines.append('')
        lines.append(
            f'data pipeline (1 process = 1 worker, {res["pipeline_images"]} '
            f'x {res["pipeline_passes"]} '
            f'{res["pipeline_image_size"][0]}x{res["pipeline_image_size"][1]}'
            f' JPEGs): {res["pipeline_img_per_s_per_worker"]:.2f} img/s per '
            f'worker, median {res["pipeline_ms_per_img"]:.1f} ms/img '
            f'(IQR {res["pipeline_ms_per_img_spread"]["iqr"]:.1f})')
        for stage, ms in res['pipeline_stage_ms_per_img'].items():
            lines.append(f'    {stage:<60} {ms:8.2f} ms/img')
        cmp = res.get('compare_pipeline')
        if cmp:
            lines.append(
                f'compared, interleaved per image: {cmp["config"]}: '
                f'{cmp["pipeline_img_per_s_per_worker"]:.2f} img/s per '
                f'worker; this / that = {cmp["speed_ratio"]:.3f}x')
            for stage, ms in cmp['pipeline_stage_ms_per_img'].items():
                lines.append(f'    {stage:<60} {ms:8.2f} ms/img')
    return '\n'.join(lines)
