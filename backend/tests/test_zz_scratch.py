import cProfile, pstats
import httpx

async def test_request_cost(superuser_client: httpx.AsyncClient) -> None:
    await superuser_client.get("/auth/me")
    prof = cProfile.Profile(); prof.enable()
    for _ in range(300):
        await superuser_client.get("/auth/me")
    prof.disable()
    st = pstats.Stats(prof); st.sort_stats("tottime").print_stats("sqlalchemy", 25)
    # group by package
    import collections
    g = collections.Counter()
    for (f, l, fn), (cc, nc, tt, ct, callers) in st.stats.items():
        key = f.split("site-packages/")[-1].split("/")[0] if "site-packages" in f else ("harness" if "pytest_dbharness" in f else ("backend" if "/backend/" in f else f.split("/")[-1]))
        g[key] += tt
    print("BYPKG", [(k, round(v, 3)) for k, v in g.most_common(12)])
