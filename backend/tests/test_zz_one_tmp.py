async def test_contexts(user_client):
    response = await user_client.get("/contexts")
    assert response.status_code == 200
