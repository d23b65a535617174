import json, glob, re
RES = re.compile(r'^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|\d{4}-\d\d?-\d\d?([Tt ].*)?|0x[0-9a-fA-F]+|0o?[0-7]+|[-+]?[0-9_]+(:[0-5]?[0-9])+(\.[0-9_]*)?)$')
def scalar(v):
    if v is None: return 'null'
    if v is True: return 'true'
    if v is False: return 'false'
    if isinstance(v, (int, float)): return json.dumps(v)
    s = v
    if s == '' or RES.match(s) or s[0] in '-?:,[]{}#&*!|>\'"%@`' or s != s.strip() or ': ' in s or ' #' in s or '\n' in s:
        return json.dumps(s, ensure_ascii=False)
    return s
def emit(v, ind, out):
    pad = '  ' * ind
    if isinstance(v, dict):
        for k in sorted(v):
            x = v[k]
            if isinstance(x, dict) and x: out.append(f'{pad}{k}:'); emit(x, ind + 1, out)
            elif isinstance(x, list) and x: out.append(f'{pad}{k}:'); emit(x, ind, out)
            else: out.append(f'{pad}{k}: {"{}" if x == {} else "[]" if x == [] else scalar(x)}')
    elif isinstance(v, list):
        for x in v:
            if isinstance(x, dict) and x:
                sub = []; emit(x, ind + 1, sub)
                sub[0] = pad + '- ' + sub[0][len(pad) + 2:]; out.extend(sub)
            elif isinstance(x, list) and x:
                sub = []; emit(x, ind + 1, sub); sub[0] = pad + '- ' + sub[0].lstrip(); out.extend(sub)
            else: out.append(f'{pad}- {"{}" if x == {} else "[]" if x == [] else scalar(x)}')
ok = 0; bad = []
for f in sorted(glob.glob('/work/shared/k8s-api-testdata/testdata/HEAD/*.json')):
    out = []; emit(json.load(open(f)), 0, out)
    got = '\n'.join(out) + '\n'; want = open(f[:-5] + '.yaml').read()
    if got == want: ok += 1
    else:
        for i, (a, b) in enumerate(zip(got.split('\n'), want.split('\n'))):
            if a != b: bad.append((f.split('/')[-1], i, a, b)); break
print('yaml byte-identical', ok, 'of', ok + len(bad)); [print(b) for b in bad[:10]]
